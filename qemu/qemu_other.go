//go:build !linux

package qemu

import "os/exec"

func startDyingWithParent(cmd *exec.Cmd, _ <-chan struct{}) error { return cmd.Start() }
