// Package mirror makes a port of the appliance a network interface of a
// remote client: every frame the port receives comes out of the client's
// TAP with the appliance's nanosecond timestamp, and every frame the
// client's stack writes to the TAP leaves the port.
//
// The server side is the supervised service "mirror" (New, Service.Run):
// it is a consumer of the capture core, never a socket of its own. A
// client holding a port for transmit is an in-process tap application
// with a bypass tap on the port (tap/tapcore: NetTap's detour, revert,
// alloc and dealloc rings over the pool, as outside applications have
// them): the port's received frames are the mirror's, and the client's
// frames go out through the revert ring. Monitor clients are read-only
// subscribers and see the same frames. Every call into the core is in
// server_core.go.
//
// The client side is Attach (the TAP, carrier, reconnects), Detach and
// ListPorts. Its TAP runs with TSO and checksum offload: the client cuts
// the stack's large segments to wire frames and merges the port's
// segments back into large ones (offload_linux.go).
// Both speak the mirror protocol of package mirror/proto over one TLS 1.3
// connection; docs/MIRROR-PROTOCOL.md specifies it.
//
// Security: nothing listens unless Config.Listen is set; the client
// verifies the server with a CA or a pinned certificate fingerprint; the
// server answers nothing but an error until the client has shown a token
// (compared in constant time) or a client certificate, and each credential
// may be limited to some ports.
package mirror
