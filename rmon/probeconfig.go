package rmon

import (
	"encoding/binary"
	"time"

	"github.com/wirebox/wirebox/internal/buildinfo"
	"github.com/wirebox/wirebox/rmon/mib"
)

// probeConfigOID is RMON2's probeConfig group (RFC 4502 section 6).
var probeConfigOID = rmonOID.Append(19)

// Capability bits (probeCapabilities BITS, bit 0 first) of what is served.
var capabilityBits = []int{
	0,  // etherStats
	1,  // historyControl
	2,  // etherHistory
	3,  // alarm
	4,  // hosts
	5,  // hostTopN
	6,  // matrix
	7,  // filter
	8,  // capture
	9,  // event
	18, // protocolDirectory
	19, // protocolDistribution
	20, // addressMapping
	21, // nlHost
	22, // nlMatrix
	23, // alHost
	24, // alMatrix (with alMatrixTopN)
	25, // usrHistory
	26, // probeConfig
}

func capabilities() []byte {
	b := make([]byte, 4)
	for _, bit := range capabilityBits {
		b[bit/8] |= 0x80 >> (bit % 8)
	}
	return b
}

// dateAndTime encodes SNMPv2-TC DateAndTime in UTC.
func dateAndTime(t time.Time) []byte {
	t = t.UTC()
	b := make([]byte, 11)
	binary.BigEndian.PutUint16(b, uint16(t.Year()))
	b[2], b[3], b[4], b[5], b[6] = byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second())
	b[7], b[8] = byte(t.Nanosecond()/100_000_000), '+'
	return b
}

// registerProbeConfig serves the read-only part of probeConfig, with
// netDefaultGateway (which some managers, Checkmk among them, read to
// recognize an RMON probe).
func registerProbeConfig(tree *mib.Tree) {
	rev := buildinfo.String()
	tree.Register(probeConfigOID, mib.Scalars{
		1: {Get: func() mib.Value { return mib.OctetString(capabilities()) }},
		2: {Get: func() mib.Value { return mib.String(rev) }},
		3: {Get: func() mib.Value { return mib.String("wirebox") }},
		4: {Get: func() mib.Value { return mib.OctetString(dateAndTime(time.Now())) }},
		5: {Get: func() mib.Value { return mib.Integer(1) }}, // probeResetControl: running
		12: {Get: func() mib.Value {
			gw, _ := defaultGateway()
			return mib.IPAddress(gw)
		}},
	})
}
