package tapclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/tap"
)

// DefaultSocket is the daemon's default tap socket.
const DefaultSocket = "/run/wirebox/tap.sock"

// Tap kinds.
const (
	Input  = tap.TapInput
	Output = tap.TapOutput
	Bypass = tap.TapBypass
)

// Options are what the application tells the daemon in hello.
type Options struct {
	Name     string // for the daemon's logs and `wirebox taps`
	Alloc    int    // free frames to keep on the alloc ring (0: none)
	RingSize int    // entries per ring (0: the daemon's choice)
}

// App is a connection to the daemon: the mapped pool, the rings.
type App struct {
	conn *net.UnixConn
	seq  uint32
	// Pool is the daemon's pool region, mapped here.
	Pool *tap.Mapped
	// Hello is the daemon's answer (quota, sizes).
	Hello tap.Response

	rings                          []byte
	detour, revert, alloc, dealloc *tap.Ring
	poolFd, ringsFd, daemonEfd     int
	appEv                          *os.File
}

// Dial connects to the tap socket at path and says hello.
func Dial(path string, o Options) (*App, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("tapclient: dial %s: %w", path, err)
	}
	a := &App{conn: c, poolFd: -1, ringsFd: -1, daemonEfd: -1}
	r, fds, err := a.call(tap.Request{Type: tap.MsgHello, Alloc: uint32(o.Alloc), RingSize: uint32(o.RingSize), Name: o.Name}, 4)
	if err != nil {
		c.Close()
		return nil, err
	}
	a.Hello = r
	a.poolFd, a.ringsFd, a.daemonEfd = fds[0], fds[1], fds[3]
	if err := unix.SetNonblock(fds[2], true); err != nil {
		a.Close()
		return nil, err
	}
	a.appEv = os.NewFile(uintptr(fds[2]), "tap-app-eventfd")
	if a.Pool, err = tap.MapRegion(a.poolFd, int(r.HeaderOffset)); err != nil {
		a.Close()
		return nil, err
	}
	var l tap.RingsLayout
	if a.rings, l, err = tap.MapRings(a.ringsFd); err != nil {
		a.Close()
		return nil, err
	}
	a.detour = tap.OpenRing(a.rings, l, tap.RingDetour, false)
	a.revert = tap.OpenRing(a.rings, l, tap.RingRevert, true)
	a.alloc = tap.OpenRing(a.rings, l, tap.RingAlloc, false)
	a.dealloc = tap.OpenRing(a.rings, l, tap.RingDealloc, true)
	return a, nil
}

// call sends a request and reads its response with up to nfds fds.
func (a *App) call(req tap.Request, nfds int) (tap.Response, []int, error) {
	a.seq++
	req.Seq = a.seq
	if _, _, err := a.conn.WriteMsgUnix(req.Encode(), nil, nil); err != nil {
		return tap.Response{}, nil, fmt.Errorf("tapclient: send: %w", err)
	}
	buf := make([]byte, tap.MaxMessage)
	oob := make([]byte, unix.CmsgSpace(4*max(nfds, 1)))
	n, oobn, _, _, err := a.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return tap.Response{}, nil, fmt.Errorf("tapclient: receive: %w", err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				if f, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, f...)
				}
			}
		}
	}
	r, err := tap.DecodeResponse(buf[:n])
	if err == nil && r.Status != tap.StatusOK {
		err = fmt.Errorf("tapclient: %s refused (status %d): %s", []string{"", "hello", "tap", "close tap"}[min(int(req.Type), 3)], r.Status, r.Message)
	}
	if err == nil && len(fds) != nfds {
		err = fmt.Errorf("tapclient: got %d descriptors, want %d", len(fds), nfds)
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return r, nil, err
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	return r, fds, nil
}

// Tap asks for a tap of kind on port; order places it among the port's
// other owners of the hook (lowest first). It returns the tap's handle:
// detoured entries carry it, and reverted ones name where they go.
func (a *App) Tap(port string, kind uint8, order int32) (uint32, error) {
	r, _, err := a.call(tap.Request{Type: tap.MsgTap, Kind: kind, Order: order, Port: port}, 0)
	return r.Handle, err
}

// CloseTap removes a tap.
func (a *App) CloseTap(h uint32) error {
	_, _, err := a.call(tap.Request{Type: tap.MsgCloseTap, Handle: h}, 0)
	return err
}

// ErrTimeout is returned by Receive and AllocWait when the timeout passes.
var ErrTimeout = errors.New("tapclient: timeout")

// wait sleeps on the application eventfd until the daemon signals or the
// timeout passes, after asking r's producer for a wake-up; ready rechecks
// after the flag is set (no lost wake-up).
func (a *App) wait(timeout time.Duration, rs ...*tap.Ring) {
	for _, r := range rs {
		r.SetNeedWakeup()
	}
	ready := false
	for _, r := range rs {
		if n, _ := r.Peek(1); n > 0 {
			ready = true
		}
	}
	if !ready {
		var b [8]byte
		_ = a.appEv.SetReadDeadline(time.Now().Add(timeout))
		_, _ = a.appEv.Read(b[:])
	}
	for _, r := range rs {
		r.ClearNeedWakeup()
	}
}

func take(r *tap.Ring, ds []tap.RingDesc) (int, error) {
	n, err := r.Peek(len(ds))
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		ds[i] = r.Entry(i)
	}
	r.Release(n)
	return n, nil
}

// Receive takes up to len(ds) detoured frames, waiting up to timeout
// (0: do not wait) for the first.
func (a *App) Receive(ds []tap.RingDesc, timeout time.Duration) (int, error) {
	return a.takeWait(a.detour, ds, timeout)
}

// Alloc takes up to len(ds) free frames from the alloc ring, waiting up
// to timeout for the first. Each is the application's to fill (Buffer),
// then Revert on a tap (sent, or injected for an input tap) or Dealloc.
func (a *App) Alloc(ds []tap.RingDesc, timeout time.Duration) (int, error) {
	return a.takeWait(a.alloc, ds, timeout)
}

// takeWait takes up to len(ds) entries from r, waiting up to timeout (0:
// not at all) for the first; ErrTimeout when none came.
func (a *App) takeWait(r *tap.Ring, ds []tap.RingDesc, timeout time.Duration) (int, error) {
	n, err := take(r, ds)
	if n > 0 || err != nil || timeout <= 0 {
		return n, err
	}
	a.wait(timeout, r)
	n, err = take(r, ds)
	if n == 0 && err == nil {
		err = ErrTimeout
	}
	return n, err
}

func (a *App) give(r *tap.Ring, ds []tap.RingDesc) (int, error) {
	n, err := r.Reserve(len(ds))
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		*r.Slot(i) = ds[i]
	}
	r.Submit(n)
	if r.NeedWakeup() {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], 1)
		_, _ = unix.Write(a.daemonEfd, b[:])
	}
	return n, nil
}

// Revert hands frames back: each continues on its way on the tap its Tap
// field names (input, output) or leaves that tap's port (bypass), with
// the data Off and Len say. It returns how many fit on the ring.
func (a *App) Revert(ds []tap.RingDesc) (int, error) { return a.give(a.revert, ds) }

// Dealloc gives frames back to the pool.
func (a *App) Dealloc(ds []tap.RingDesc) (int, error) { return a.give(a.dealloc, ds) }

// Data is a ring entry's bytes in the shared pool (no copy).
func (a *App) Data(d tap.RingDesc) []byte { return a.Pool.Data(d) }

// Buffer is the whole frame id, for building a frame in an allocated one.
func (a *App) Buffer(id uint32) []byte { return a.Pool.Buffer(tap.FrameID(id)) }

// Close disconnects; the daemon takes back every frame still held.
func (a *App) Close() error {
	err := a.conn.Close()
	if a.Pool != nil {
		a.Pool.Close()
	}
	if a.rings != nil {
		tap.UnmapRings(a.rings)
	}
	for _, fd := range []int{a.poolFd, a.ringsFd, a.daemonEfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	if a.appEv != nil {
		a.appEv.Close()
	}
	return err
}
