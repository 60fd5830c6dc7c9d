// Package drmon is distributed RMON: agents on end systems count their own
// host's traffic (per host pair, with size buckets and protocols) and TCP
// response times, and report them to a proxy (the rmon service) that
// merges them into the tables of one RMON probe. The wire protocol is
// specified in docs/DRMON-PROTOCOL.md; this package is its reference
// implementation (messages, the agent's counting and answering, the
// proxy's merge with duplicate suppression).
package drmon
