package tui

import (
	"fmt"
	"io"
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

// LineInput puts the terminal on f in raw mode but keeps output processing
// (OPOST|ONLCR: a newline goes out as CR LF), and returns a pipe that
// carries f's input, and a func that restores the terminal. Given to
// bubbletea as its input, the pipe is not a terminal, so its renderer
// takes a newline to return the carriage too. That is what a terminal
// behind a serial line does: QEMU's stdio keeps OPOST|ONLCR on the host's
// side, so a bare LF the renderer meant as "cursor down, same column"
// landed at column 0 and overwrote the start of the row ("2spi-remote").
// With ONLCR on here as well, the guest sends CR LF and every host lands
// where the renderer expects. f that is not a terminal is returned as is.
func LineInput(f *os.File) (*os.File, func(), error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return f, func() {}, nil // not a terminal
	}
	raw := *old
	// cfmakeraw, then output processing back on.
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Oflag |= unix.OPOST | unix.ONLCR
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, nil, fmt.Errorf("terminal raw mode: %w", err)
	}
	restore := func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
	r, w, err := os.Pipe()
	if err != nil {
		restore()
		return nil, nil, err
	}
	// The copy ends with the process (a read of the terminal cannot be
	// cancelled); the console exits right after the program.
	go func() {
		_, _ = io.Copy(w, f)
		w.Close()
	}()
	return r, func() { restore(); r.Close() }, nil
}
