package drmon

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// tcp builds an Ethernet/IPv4/TCP frame.
func tcp(src, dst netip.AddrPort, flags uint8, payload int) []byte {
	d := make([]byte, 14+20+20+payload)
	d[12], d[13] = 0x08, 0x00
	ip := d[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
	ip[9] = 6
	s, t := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:], s[:])
	copy(ip[16:], t[:])
	l4 := ip[20:]
	binary.BigEndian.PutUint16(l4[0:], src.Port())
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	l4[12] = 5 << 4
	l4[13] = flags
	return d
}

func TestTracker(t *testing.T) {
	c, s := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	tr := NewTracker(10)
	ms := int64(1e6)
	tr.See(tcp(c, s, tcpSYN, 0), 1*ms, true)
	tr.See(tcp(s, c, tcpSYN|tcpACK, 0), 2*ms, false)
	tr.See(tcp(c, s, tcpACK, 0), 3*ms, true)
	tr.See(tcp(c, s, tcpACK, 100), 10*ms, true)
	tr.See(tcp(c, s, tcpACK, 100), 11*ms, true) // the same request
	tr.See(tcp(s, c, tcpACK, 0), 12*ms, false)  // a bare ACK is no response
	tr.See(tcp(s, c, tcpACK, 500), 30*ms, false)
	tr.See(tcp(s, c, tcpACK, 500), 31*ms, false) // the rest of the response
	tr.See(tcp(c, s, tcpFIN|tcpACK, 0), 40*ms, true)
	got := tr.Snapshot()[RespKey{Server: s, Client: c.Addr(), Observer: ObserverClient}]
	want := RespStats{SetupCount: 1, SetupSum: 10000, SetupMin: 10000, SetupMax: 10000, RespCount: 1, RespSum: 200000, RespMin: 200000, RespMax: 200000}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if len(tr.conns) != 0 {
		t.Errorf("connection kept after FIN")
	}
}
