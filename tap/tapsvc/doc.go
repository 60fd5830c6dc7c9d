// Package tapsvc is the supervised "tap" service: NetTap's application
// API. It listens on a local unix socket (SOCK_SEQPACKET, mode 0660,
// root and a configured group; nothing on the network), and for each
// application that connects makes one capture.Consumer, a ring memfd
// (detour, revert, alloc, dealloc) and two eventfds, hands them and the
// pool's memfd over by SCM_RIGHTS, and pumps frames between the rings and
// the application's taps (ingress owner, egress owner, exclusive bypass
// owner). Every frame id an application writes is checked against what
// its consumer holds; a bad one disconnects it. When it exits, crashes
// or is disconnected its consumer is closed: every frame comes back and
// its taps go away. The layout and protocol are in docs/TAP-ABI.md.
package tapsvc
