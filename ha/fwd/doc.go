// Package fwd is the stateful L4 forwarder the HA pair protects: one
// virtual service address and port (the VIP) translated to one or more
// backends (DNAT with port translation on the way in, the reverse on the
// way back, so replies come from the VIP), for TCP and UDP over IPv4, with
// connection tracking (TCP state, per-state timeouts) and incremental
// checksum updates.
//
// The package is pure packet logic on byte slices: it parses and rewrites
// frames in place and keeps the connection table, but opens nothing and
// sends nothing. The ha service drives it with frames from the core
// (bypass ports) and from the peer link, so the active and the standby run
// exactly the same state machine on the same packets.
//
// Not covered: IPv6, IP options are passed through but fragments are
// dropped (a fragment carries no port), ICMP errors about forwarded
// connections are not translated, TCP sequence numbers are never changed
// (so a connection's sequence delta is always zero), backends are not
// health-checked.
package fwd
