//go:build unix

package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Descriptor passing on the local socket: the CLI opens a file with its
// user's own permissions and hands the daemon the open descriptor
// (SCM_RIGHTS), so `wirebox replay ./trace.pcap` works for a file the user
// may read wherever it is, and the daemon reads nothing it was not given.
// A request that carries a descriptor sets the FDHeader and comes alone on
// its connection; the descriptor arrives with its first bytes.

// FDHeader marks a request that carries a descriptor.
const FDHeader = "Wirebox-Fd"

// maxFDs bounds the descriptors one connection may hold unclaimed; more are
// closed as they arrive.
const maxFDs = 4

// fdConn is a unix connection that keeps the descriptors sent with its
// bytes until a handler takes them.
type fdConn struct {
	*net.UnixConn
	mu  sync.Mutex
	fds []int
	oob []byte
}

func newFDConn(c *net.UnixConn) *fdConn {
	return &fdConn{UnixConn: c, oob: make([]byte, unix.CmsgSpace(maxFDs*4))}
}

func (c *fdConn) Read(p []byte) (int, error) {
	n, oobn, _, _, err := c.ReadMsgUnix(p, c.oob)
	if oobn > 0 {
		c.keep(c.oob[:oobn])
	}
	// ReadMsgUnix passes recvmsg's -1 through on an error (a deadline, a
	// connection closed under it); io.Reader allows no negative count and
	// bufio panics on one, which took the API's connection down.
	return max(n, 0), err
}

func (c *fdConn) keep(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(c.fds) >= maxFDs {
				unix.Close(fd)
				continue
			}
			unix.CloseOnExec(fd)
			c.fds = append(c.fds, fd)
		}
	}
}

func (c *fdConn) take() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.fds) == 0 {
		return -1, false
	}
	fd := c.fds[0]
	c.fds = c.fds[1:]
	return fd, true
}

func (c *fdConn) Close() error {
	c.mu.Lock()
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = nil
	c.mu.Unlock()
	return c.UnixConn.Close()
}

type connKey struct{}

// connContext remembers each request's connection, for ReceivedFile.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitConn); ok {
		c = lc.Conn
	}
	if fc, ok := c.(*fdConn); ok {
		return context.WithValue(ctx, connKey{}, fc)
	}
	return ctx
}

// ErrNoFD is returned by ReceivedFile when the request brought no descriptor.
var ErrNoFD = errors.New("no file descriptor came with the request (only the local socket passes them)")

// ReceivedFile returns the descriptor that came with r (see FDHeader) as a
// file named name. The caller closes it.
func ReceivedFile(r *http.Request, name string) (*os.File, error) {
	fc, ok := r.Context().Value(connKey{}).(*fdConn)
	if !ok || r.Header.Get(FDHeader) == "" {
		return nil, ErrNoFD
	}
	fd, ok := fc.take()
	if !ok {
		return nil, ErrNoFD
	}
	return os.NewFile(uintptr(fd), name), nil
}

// PeerCred returns the user and group of the process at the other end of
// r's connection (SO_PEERCRED), for files the daemon makes on its behalf.
func PeerCred(r *http.Request) (uid, gid int, err error) {
	fc, ok := r.Context().Value(connKey{}).(*fdConn)
	if !ok {
		return 0, 0, errors.New("not a local socket connection")
	}
	raw, err := fc.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if cerr != nil {
		return 0, 0, cerr
	}
	return int(cred.Uid), int(cred.Gid), nil
}

// fdSendConn sends its descriptor with the first bytes it writes.
type fdSendConn struct {
	*net.UnixConn
	once sync.Once
	fd   int
}

func (c *fdSendConn) Write(p []byte) (int, error) {
	sent := false
	var n int
	var err error
	c.once.Do(func() {
		sent = true
		n, _, err = c.WriteMsgUnix(p, unix.UnixRights(c.fd), nil)
	})
	if sent {
		return n, err
	}
	return c.UnixConn.Write(p)
}

// PostFile is Post that hands the daemon f's descriptor with the request
// (local socket only), for endpoints that take a file the user opened.
func (c *Client) PostFile(ctx context.Context, path string, f *os.File, in, out any) error {
	if c.socket == "" {
		return errors.New("passing a file needs the local socket")
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", c.socket)
			if err != nil {
				return nil, err
			}
			return &fdSendConn{UnixConn: conn.(*net.UnixConn), fd: int(f.Fd())}, nil
		},
		DisableKeepAlives: true, // the descriptor belongs to this one request
	}
	defer tr.CloseIdleConnections()
	one := &Client{hc: &http.Client{Transport: tr}, base: c.base, where: c.where, socket: c.socket,
		header: http.Header{FDHeader: {"1"}}}
	return one.call(ctx, http.MethodPost, path, in, out)
}
