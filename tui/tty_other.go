//go:build !linux

package tui

import "os"

// EnsureTTYSize does nothing outside Linux; the appliance runs Linux.
func EnsureTTYSize(*os.File, Size) (bool, error) { return false, nil }

// ReleaseTTY does nothing outside Linux.
func ReleaseTTY(*os.File) error { return nil }

// IsSessionLeader reports false outside Linux.
func IsSessionLeader() bool { return false }

// LineInput returns f as is outside Linux.
func LineInput(f *os.File) (*os.File, func(), error) { return f, func() {}, nil }
