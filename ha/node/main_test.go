package node

import (
	"os"
	"testing"

	"github.com/wirebox/wirebox/internal/leakcheck"
)

// The node holds pool frames, sockets and goroutines; a test must leave
// none behind.
func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }
