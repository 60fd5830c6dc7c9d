package snmp

import (
	"net/netip"
	"testing"
)

// BenchmarkHandleV3 answers a recorded net-snmp authPriv GET (SHA-256,
// AES-128) over and over: verify, decrypt, dispatch, encrypt, sign.
func BenchmarkHandleV3(b *testing.B) {
	t := &testing.T{}
	tree, _ := testTree()
	a, addr := startAgent(t, Config{Users: testUsers}, tree)
	p, paddr := newProxy(t, addr)
	if _, err := snmpTool(t, "snmpget", append(v3args("sha256aes", "authPriv", "SHA-256", "authpass256", "AES", "privpass256"), paddr, "1.3.6.1.2.1.1.1.0")...); err != nil {
		b.Fatal(err)
	}
	reqs := p.requests()
	req := reqs[len(reqs)-1]
	src := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if a.Handle(req, src) == nil {
			b.Fatal("no answer")
		}
	}
}
