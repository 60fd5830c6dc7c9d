package tapsvc

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tap"
	"github.com/wirebox/wirebox/tap/tapcore"
)

func itoa(i int) string { return strconv.Itoa(i) }

// app is one connected application: the daemon side of its rings
// (tapcore.Attachment, shared with in-process applications) plus what an
// outside process needs: a ring memfd, two eventfds, its pid.
type app struct {
	s    *Service
	id   uint32
	pid  int
	uid  int
	comm string
	name string
	log  *slog.Logger
	pool *tap.Pool

	att       *tapcore.Attachment
	appEfd    int      // the daemon signals the application here
	daemonEv  *os.File // the application signals the daemon here
	daemonEfd int      // a dup of daemonEv's fd, handed over
	wake      [8]byte  // the eventfd increment, encoded once
	closeOnce sync.Once
	pidDone   chan struct{} // the pidfd watcher ended (nil: none)
}

func newApp(s *Service, core *capture.Core, id uint32, pid, uid int, name string, alloc, ringSize int, log *slog.Logger) (*app, error) {
	a := &app{s: s, id: id, pid: pid, uid: uid, name: name, comm: readComm(pid), pool: core.Pool(), appEfd: -1, daemonEfd: -1}
	binary.LittleEndian.PutUint64(a.wake[:], 1)
	a.log = log.With("app", id, "pid", pid, "command", a.comm, "name", name)
	var err error
	if a.appEfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("tap: eventfd: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		a.release()
		return nil, fmt.Errorf("tap: eventfd: %w", err)
	}
	if a.daemonEfd, err = unix.FcntlInt(uintptr(efd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
		unix.Close(efd)
		a.release()
		return nil, fmt.Errorf("tap: dup eventfd: %w", err)
	}
	a.daemonEv = os.NewFile(uintptr(efd), "tap-daemon-eventfd") // non-blocking: the runtime poller waits on it
	a.att, err = tapcore.New(core, tapcore.Options{
		Name:  fmt.Sprintf("tap app %d (%s, pid %d)", id, a.comm, pid),
		Quota: s.cfg.Quota, Alloc: alloc, RingSize: ringSize, MaxTaps: s.cfg.MaxTaps, Queue: s.cfg.Queue, Shared: true,
		Wake: func(int) { _, _ = unix.Write(a.appEfd, a.wake[:]) },
		Wait: func(d time.Duration) {
			var b [8]byte
			_ = a.daemonEv.SetReadDeadline(time.Now().Add(d))
			_, _ = a.daemonEv.Read(b[:])
		},
		OnViolation: func(error) { s.violations.Add(1) },
		Log:         a.log,
	})
	if err != nil {
		a.release()
		return nil, err
	}
	return a, nil
}

func readComm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return string(b)
}

// fds are what the hello response passes: pool memfd, ring memfd,
// application eventfd, daemon eventfd.
func (a *app) fds() []int { return []int{a.pool.Fd(), a.att.RingsFd(), a.appEfd, a.daemonEfd} }

// release closes the app's eventfds (after its attachment is closed).
func (a *app) release() {
	for _, fd := range []*int{&a.appEfd, &a.daemonEfd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	if a.daemonEv != nil {
		a.daemonEv.Close()
	}
}

// close ends the application: every frame it holds goes back, its taps
// go away (tapcore.Attachment.Close). Safe to call more than once.
func (a *app) close() {
	a.closeOnce.Do(func() {
		a.s.reclaimed.Add(a.att.Close())
		if a.pidDone != nil {
			<-a.pidDone
		}
		a.s.closed.Add(1)
		a.release()
	})
}

func (a *app) status() api.TapApp {
	st := a.att.Status()
	st.ID, st.PID, st.UID, st.Command, st.Name = a.id, a.pid, a.uid, a.comm, a.name
	return st
}
