//go:build !linux

package rmon

import "errors"

func readSpeed(string) (int, error) { return 0, errors.New("rmon: link speed is Linux only") }
