// Package qemu boots wirebox images under QEMU (always TCG): one appliance
// or an HA pair, the management port on user-mode networking restricted to
// loopback with the control API, SNMP and mirror ports forwarded to
// 127.0.0.1, optional extra NICs on host TAP devices, a dgram peer link
// between two guests, and the serial console on the terminal or on given
// streams. It only ever stops the QEMU processes it started.
package qemu
