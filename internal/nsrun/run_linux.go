package nsrun

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run runs fn in the network namespace at path ("" runs it here), on a
// goroutine locked to a thread that exits afterwards. Sockets made in fn
// keep the namespace. Unlike the test helper netns.NS.Do it needs no
// test: the core and services use it to open sockets in a configured
// namespace.
func Run(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("panic in namespace %s: %v", path, r)
			}
		}()
		f, err := os.Open(path)
		if err != nil {
			errc <- fmt.Errorf("open netns: %w", err)
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
