package boot

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/api"
)

func phaseAt(name string, sec float64) api.BootPhase {
	return api.BootPhase{Name: name, Seconds: float64(int(sec*100+0.5)) / 100}
}

// kernelMarks are kernel log messages that end a boot phase (they are
// logged at info level, so "quiet" keeps them off the console but in the
// ring buffer).
var kernelMarks = []struct{ prefix, name string }{
	{"Trying to unpack rootfs image as initramfs", "kernel: initramfs unpack starts"},
	{"Freeing initrd memory", "kernel: initramfs unpacked"},
	{"Run /init as init process", "kernel: /init starts"},
}

// kernelPhases reads the kernel log (/dev/kmsg, without blocking) for the
// kernel's own phases.
func kernelPhases() []api.BootPhase {
	// Raw reads: an *os.File on a non-blocking descriptor would park on
	// EAGAIN in the runtime poller instead of returning.
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	return KernelPhases(func(buf []byte) (int, error) { return unix.Read(fd, buf) })
}

// KernelPhases parses /dev/kmsg records ("LEVEL,SEQ,USEC,FLAGS;TEXT"),
// one per read, until read fails.
func KernelPhases(read func([]byte) (int, error)) []api.BootPhase {
	var out []api.BootPhase
	buf := make([]byte, 8192)
	for {
		n, err := read(buf)
		if errors.Is(err, unix.EPIPE) {
			continue // records were overwritten; go on with the next
		}
		if err != nil || n == 0 {
			return out
		}
		head, text, ok := bytes.Cut(buf[:n], []byte{';'})
		if !ok {
			continue
		}
		f := bytes.Split(head, []byte{','})
		if len(f) < 3 {
			continue
		}
		usec, err := strconv.ParseUint(string(f[2]), 10, 64)
		if err != nil {
			continue
		}
		for _, m := range kernelMarks {
			if bytes.HasPrefix(text, []byte(m.prefix)) {
				out = append(out, phaseAt(m.name, float64(usec)/1e6))
			}
		}
	}
}

// writeBootFile records the phases for the daemon (GET /v1/appliance).
func writeBootFile(ph []api.BootPhase) {
	b, err := json.Marshal(ph)
	if err != nil {
		return
	}
	_ = os.MkdirAll(filepath.Dir(BootFile), 0o755)
	tmp := BootFile + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil {
		_ = os.Rename(tmp, BootFile)
	}
}

// probeSize asks the terminal for its size: move the cursor far to the
// bottom right (it stops at the last cell), ask where it is (DSR 6), and
// restore it. A terminal answers ESC [ ROWS ; COLS R. Serial lines carry no
// size of their own, so this is how the guest learns the host terminal's.
func probeSize(fd int, timeout time.Duration) (cols, rows uint16, ok bool) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return 0, 0, false
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 0, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return 0, 0, false
	}
	defer func() {
		// Drop whatever else came in (a late answer must not reach the
		// console or the shell as typed text), then restore the mode.
		_ = unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH)
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
	}()
	if _, err := unix.Write(fd, []byte("\x1b7\x1b[999;999H\x1b[6n\x1b8")); err != nil {
		return 0, 0, false
	}
	var got []byte
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(time.Until(deadline)/time.Millisecond)+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return 0, 0, false
		}
		if n <= 0 {
			continue
		}
		m, err := unix.Read(fd, buf)
		if err != nil || m <= 0 {
			continue
		}
		got = append(got, buf[:m]...)
		if c, r, ok := ParseCursorReport(got); ok {
			return c, r, true
		}
	}
	return 0, 0, false
}

// ParseCursorReport finds a cursor position report (ESC [ ROWS ; COLS R)
// in b, and returns it as a size.
func ParseCursorReport(b []byte) (cols, rows uint16, ok bool) {
	i := bytes.LastIndex(b, []byte("\x1b["))
	if i < 0 {
		return 0, 0, false
	}
	rest := b[i+2:]
	end := bytes.IndexByte(rest, 'R')
	if end < 0 {
		return 0, 0, false
	}
	r, c, found := bytes.Cut(rest[:end], []byte{';'})
	if !found {
		return 0, 0, false
	}
	ri, err1 := strconv.ParseUint(string(r), 10, 16)
	ci, err2 := strconv.ParseUint(string(c), 10, 16)
	if err1 != nil || err2 != nil || ri < 5 || ci < 20 {
		return 0, 0, false
	}
	return uint16(ci), uint16(ri), true
}
