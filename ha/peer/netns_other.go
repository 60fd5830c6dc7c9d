//go:build !linux

package peer

import (
	"net"

	"github.com/wirebox/wirebox/internal/nsrun"
)

func inNetNS(path string, fn func() error) error { return nsrun.Run(path, fn) }

func setBuffers(c *net.UDPConn, size int) {
	_ = c.SetReadBuffer(size)
	_ = c.SetWriteBuffer(size)
}
