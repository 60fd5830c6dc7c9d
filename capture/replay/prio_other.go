//go:build !linux

package replay

func raisePriority() func() { return func() {} }
