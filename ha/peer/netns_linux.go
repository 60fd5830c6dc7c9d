package peer

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// inNetNS runs fn with the calling thread in the namespace at path (the
// socket fn opens stays there); "" runs it where we are.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread is never given back: it dies with this goroutine, so
		// no other goroutine runs in the namespace by accident.
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
