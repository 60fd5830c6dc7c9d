package peer

import (
	"net"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/nsrun"
)

// inNetNS runs fn with the calling thread in the namespace at path (the
// socket fn opens stays there); "" runs it where we are.
func inNetNS(path string, fn func() error) error { return nsrun.Run(path, fn) }

// setBuffers sizes the socket's buffers past net.core.[rw]mem_max when
// we may (CAP_NET_ADMIN), else as far as the limits allow.
func setBuffers(c *net.UDPConn, size int) {
	raw, err := c.SyscallConn()
	if err == nil {
		var e1, e2 error
		err = raw.Control(func(fd uintptr) {
			e1 = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
			e2 = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
		})
		if err == nil && e1 == nil && e2 == nil {
			return
		}
	}
	_ = c.SetReadBuffer(size)
	_ = c.SetWriteBuffer(size)
}
