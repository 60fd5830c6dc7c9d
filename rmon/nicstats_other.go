//go:build !linux

package rmon

import "errors"

func readNIC(string, string) (nicErrors, bool, error) {
	return nicErrors{}, false, errors.New("rmon: NIC counters need Linux")
}
