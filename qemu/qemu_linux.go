package qemu

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill QEMU when we exit: a test binary
// killed mid-run must not leave a guest behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
