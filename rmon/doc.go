// Package rmon is the appliance's RMON probe: the "rmon" service, an SNMP
// agent (v1, v2c, v3 USM) that answers as a standard RMON probe (RFC 2819,
// RFC 3273 high-capacity counters) and serves SNMPv2-MIB and IF-MIB for the
// appliance's ports. Its statistics come from the capture core: the service
// is a read-only subscriber of every port and opens no packet socket.
//
// Subpackages: snmp (message codec, USM, dispatcher), mib (the OID tree),
// stats (frame counting). All calls into the capture core are in feed.go;
// the NIC's own counters are read over ethtool netlink (nicstats_linux.go).
package rmon
