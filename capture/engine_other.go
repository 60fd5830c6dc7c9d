//go:build !linux

package capture

import "errors"

func openEngine(p *Port) (engine, error) {
	return nil, errors.New("port engines need Linux (AF_PACKET, AF_XDP)")
}

func ifaceIndexIn(string, string) (int, error) {
	return 0, errors.New("interfaces need Linux")
}
