package tui

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// EnsureTTYSize gives the terminal on f a size when it reports none: a
// serial line says 0x0, and a 0x0 terminal gets a blank console. It returns
// whether it set one. Anything that is not a terminal is left alone.
func EnsureTTYSize(f *os.File, s Size) (bool, error) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return false, nil // not a terminal
	}
	if ws.Row != 0 && ws.Col != 0 {
		return false, nil
	}
	ws.Row, ws.Col = uint16(s.Rows), uint16(s.Cols)
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return false, fmt.Errorf("setting the terminal size to %dx%d: %w", s.Cols, s.Rows, err)
	}
	return true, nil
}

// ReleaseTTY makes the process let go of its controlling terminal (the
// terminal on f) so that whatever runs next on the console, such as a shell
// that init starts after the console exits, can take it over (u-root issue
// 3645). A session leader that gives up its terminal sends SIGHUP to the
// terminal's foreground group, itself included, so SIGHUP is ignored first;
// the process should exit soon after. Calling it when f is not the
// controlling terminal returns an error and changes nothing but SIGHUP.
func ReleaseTTY(f *os.File) error {
	signal.Ignore(syscall.SIGHUP)
	if err := unix.IoctlSetInt(int(f.Fd()), unix.TIOCNOTTY, 0); err != nil {
		return fmt.Errorf("giving up the controlling terminal: %w", err)
	}
	return nil
}

// IsSessionLeader reports whether this process leads its session, as a
// console started by init as the login shell does.
func IsSessionLeader() bool {
	sid, err := unix.Getsid(0)
	return err == nil && sid == os.Getpid()
}
