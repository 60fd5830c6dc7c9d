//go:build !linux

package capture

import "errors"

type injector struct{}

func openInjector(*Port, bool) (*injector, error) {
	return nil, errors.New("injecting into the host stack needs Linux")
}

func (*injector) send([]byte) error { return errors.New("injecting into the host stack needs Linux") }

func (*injector) close() error { return nil }
