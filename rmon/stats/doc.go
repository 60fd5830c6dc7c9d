// Package stats counts one port's frames the way RMON (RFC 2819) and
// IF-MIB define them: size buckets, broadcast and multicast, undersize and
// oversize, per-host and per-conversation (matrix) counters. It sees frame
// bytes only; the caller feeds it from the capture core.
package stats
