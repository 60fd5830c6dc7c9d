//go:build !linux

package mirror

import (
	"context"
	"errors"
	"log/slog"
	"net"
)

var errNotLinux = errors.New("mirror: needs Linux")

type linkState struct {
	Exists bool
	Up     bool
	MTU    int
	MAC    net.HardwareAddr
	Speed  uint32
	Duplex uint8
}

type linkWatcher struct{}

func newLinkWatcher(string) (*linkWatcher, error) { return nil, errNotLinux }
func (*linkWatcher) close()                       {}
func (*linkWatcher) get(string) linkState         { return linkState{} }
func (*linkWatcher) watch(context.Context, func(string, linkState), func(error)) error {
	return errNotLinux
}

func inNetNS(path string, fn func() error) error {
	if path != "" {
		return errNotLinux
	}
	return fn()
}

// Attach needs Linux (TAP devices).
func Attach(context.Context, AttachOptions, *slog.Logger) error { return errNotLinux }

// Detach needs Linux.
func Detach(string) error { return errNotLinux }
