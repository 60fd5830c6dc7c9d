//go:build !linux

package boot

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// Options configure Run.
type Options struct {
	Console []string
	Log     *slog.Logger
	Out     io.Writer
}

// Run is only meaningful as the appliance's uinit on Linux.
func Run(ctx context.Context, o Options) error {
	return errors.New("wirebox boot runs only on Linux, as the appliance's uinit")
}

// Keep is only meaningful on the appliance.
func Keep(ctx context.Context, bin string, args []string, out io.Writer) error {
	return errors.New("wirebox keep runs only on Linux")
}
