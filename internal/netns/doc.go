// Package netns builds small network topologies for tests: named network
// namespaces, veth pairs, addresses and TAP devices, all removed again in
// t.Cleanup even when the test fails.
//
// Namespaces are named (bind-mounted under /run/netns) with unique names, so
// external tools such as tcpdump or trafgen can run inside them with
// `ip netns exec NAME ...` ([NS.Command] builds such a command).
//
// Work inside a namespace happens on a fresh goroutine locked to its OS
// thread that is never unlocked, so the thread exits with the goroutine and
// no other goroutine ever runs in the namespace by accident (the
// cilium/ebpf testutils model). The test goroutine itself never calls setns.
// Netlink handles and sockets created inside a namespace stay bound to it
// and may be used from any goroutine afterwards.
//
// IPv6 is disabled in every namespace before any link is created, so test
// links carry only the traffic a test sends (no router solicitations or
// duplicate address detection).
//
// Privileged tests call [Require] first: without root or namespaces it
// skips, unless the environment variable CI is set, where it fails.
package netns
