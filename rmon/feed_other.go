//go:build !linux

package rmon

import "errors"

func defaultGateway() ([4]byte, error) { return [4]byte{}, errors.New("rmon: routes are Linux only") }
