package pcapng

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// noFollow keeps a repair from following a symbolic link planted in place
// of a capture file or its marker.
const noFollow = unix.O_NOFOLLOW

// lockMarker takes the marker's lock for as long as the writer holds the
// file; the kernel drops it when the process dies.
func lockMarker(m *os.File) error {
	if err := unix.Flock(int(m.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("pcapng: lock marker: %w", err)
	}
	return nil
}

// markerHeld reports whether a live writer holds the marker's lock.
func markerHeld(m *os.File) (bool, error) {
	err := unix.Flock(int(m.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("pcapng: marker lock: %w", err)
	}
	return false, nil // ours now; closing the file drops it
}
