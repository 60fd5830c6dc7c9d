//go:build !linux

package mirror

import (
	"context"
	"errors"
	"log/slog"
)

var errNotLinux = errors.New("mirror: needs Linux")

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
