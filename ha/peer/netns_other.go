//go:build !linux

package peer

import "errors"

func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return errors.New("network namespaces are Linux only")
}
