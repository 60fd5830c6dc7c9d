package fwd

import (
	"net/netip"
	"testing"

	"github.com/wirebox/wirebox/internal/pkttest"
)

// FuzzParse: frames from the wire never crash the parser, the tracker or
// the translator, and a translated frame keeps valid checksums.
func FuzzParse(f *testing.F) {
	f.Add(pkttest.TCP(f, "10.0.1.5", "10.0.1.100", 40000, 80, true, false, nil))
	f.Add(pkttest.UDP(f, "10.0.1.5", "10.0.1.100", 40000, 80, []byte("payload")))
	f.Add(pkttest.TCP(f, "10.0.2.11", "10.0.1.5", 8080, 40000, true, true, nil))
	b := make([]byte, 64)
	f.Add(b[:Gratuitous(b, [6]byte{2}, [4]byte{10, 0, 1, 100})])
	f.Fuzz(func(t *testing.T, data []byte) {
		var a ARP
		ParseARP(data, &a)
		tb, _ := NewTable(testService(Hash))
		var p Packet
		if Parse(data, &p) != nil {
			return
		}
		for _, side := range []Side{Client, Server} {
			if v, c := tb.Track(&p, side, 1, netip.AddrPort{}); v == Forward {
				tb.Translate(&p, side, &c)
			}
		}
	})
}
