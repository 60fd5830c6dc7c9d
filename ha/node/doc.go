// Package node is one appliance of the HA pair: the forwarder (ha/fwd)
// running on two bypass ports of the capture core, the peer link
// (ha/peer), the election, connection mirroring in the standby-response
// or standby-first configuration, state sync for a late standby, the
// witness check against split brain, and gratuitous ARP when the
// addresses move. Without a peer it is the forwarder alone, always
// active.
//
// The node is an exclusive ingress owner of its two ports: it takes every
// frame, keeps the service's traffic and ARP for its addresses, and
// reverts the rest to the port's default action. It transmits only
// through the core (Port.Send).
package node
