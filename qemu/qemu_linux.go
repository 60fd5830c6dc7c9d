package qemu

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startDyingWithParent starts cmd so the kernel kills it when we exit (a
// test binary killed mid-run must not leave a guest behind). Pdeathsig
// fires when the thread that forked the child ends, not the process, and
// Go ends threads: a goroutine that exits while locked to its thread (the
// netns helpers do, after entering a namespace) takes the thread with it.
// That killed QEMU with SIGKILL mid-test, while frames were sent from a
// test namespace. So the fork happens on a thread kept locked, and so
// alive, until done is closed (QEMU has exited).
func startDyingWithParent(cmd *exec.Cmd, done <-chan struct{}) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		err := cmd.Start()
		errc <- err
		if err == nil {
			<-done
		}
	}()
	return <-errc
}
