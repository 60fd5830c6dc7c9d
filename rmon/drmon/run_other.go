//go:build !linux

package drmon

import (
	"context"
	"errors"
)

// Run needs the capture core's Linux engines.
func Run(context.Context, RunConfig) error { return errors.New("drmon agent: Linux only") }
