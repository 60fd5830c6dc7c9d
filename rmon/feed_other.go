//go:build !linux

package rmon

import "errors"

func readSpeed(string) (int, error) { return 0, errors.New("rmon: link speed is Linux only") }

func defaultGateway() ([4]byte, error) { return [4]byte{}, errors.New("rmon: routes are Linux only") }
