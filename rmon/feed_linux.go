package rmon

import (
	"os"
	"strconv"
	"strings"
)

// readSpeed reads the link speed in Mb/s from sysfs (-1 when unknown).
func readSpeed(name string) (int, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/speed")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
