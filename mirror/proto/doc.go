// Package proto is the wire format of the wirebox mirror protocol: framed,
// versioned messages (query, response, report, error, data) exchanged over
// one TLS 1.3 connection. docs/MIRROR-PROTOCOL.md is the specification;
// this package is its reference implementation. Decoding never trusts a
// length: every message is bounded by MaxPayload and every field is checked
// against what remains of its payload.
package proto
