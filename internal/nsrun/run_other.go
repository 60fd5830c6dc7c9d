//go:build !linux

package nsrun

import "errors"

// Run runs fn here when path is ""; namespaces exist only on Linux.
func Run(path string, fn func() error) error {
	if path != "" {
		return errors.New("network namespaces need Linux")
	}
	return fn()
}
