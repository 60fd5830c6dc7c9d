package rmon

import (
	"os"
	"testing"

	"github.com/wirebox/wirebox/internal/leakcheck"
)

// The service subscribes to ports of the shared pool: every frame must be
// back and every goroutine and socket gone when the tests end.
func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }
