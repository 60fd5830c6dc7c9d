package capture

import (
	"os"
	"testing"

	"github.com/wirebox/wirebox/internal/leakcheck"
)

// Engines own sockets, rings and goroutines; a port that closes must leave
// none behind.
func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }
