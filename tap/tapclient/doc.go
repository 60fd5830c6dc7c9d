// Package tapclient is the Go side of NetTap's application API for
// programs outside the daemon: Dial the daemon's tap socket, ask for taps
// on ports, and move frame references through the shared rings (Receive
// from detour, Revert, Alloc, Dealloc) with no copy of the frames: the
// pool region is mapped in the application and a frame id names the same
// bytes as in the daemon. It speaks exactly what docs/TAP-ABI.md and
// tap/include/wirebox_tap.h describe.
package tapclient
