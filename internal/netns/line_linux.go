package netns

import (
	"strconv"
	"strings"
	"testing"
)

// Line is the topology of the forwarding tests: an appliance A with two
// ports between two hosts,
//
//	B (peer0) ---- (wb0) A (wb1) ---- (peer1) C
//
// so that what B sends to C crosses A only if A forwards it.
type Line struct {
	A, B, C                *NS
	Peer0, WB0, WB1, Peer1 Link
	peer1Addr              string
}

// LineOptions configures [NewLine].
type LineOptions struct {
	// Peer0 and Peer1 are the hosts' addresses (CIDR; "" for none).
	Peer0, Peer1 string
	// GRO turns GRO on at every end, as on a real host (and so that a
	// veth receives frames an AF_XDP port transmits in NAPI).
	GRO bool
}

// NewLine makes the three namespaces and the two veth pairs (Require
// first: without the privilege the test skips, or fails under CI).
func NewLine(tb testing.TB, o LineOptions) *Line {
	tb.Helper()
	Require(tb)
	l := &Line{A: New(tb), B: New(tb), C: New(tb), peer1Addr: strings.Split(o.Peer1, "/")[0]}
	l.Peer0, l.WB0 = Veth(tb, l.B, "peer0", l.A, "wb0", VethOptions{AddrA: o.Peer0})
	l.WB1, l.Peer1 = Veth(tb, l.A, "wb1", l.C, "peer1", VethOptions{AddrB: o.Peer1})
	if o.GRO {
		for _, e := range []Link{l.Peer0, l.WB0, l.WB1, l.Peer1} {
			e.Ethtool(tb, "gro", "on")
		}
	}
	return l
}

// Ping pings peer1 from peer0 with n echoes and reports whether all came
// back. A loaded machine may lose the first echo to a slow ARP: up to
// three tries, each of which must see every reply.
func (l *Line) Ping(tb testing.TB, n int) bool {
	tb.Helper()
	if l.peer1Addr == "" {
		tb.Fatal("netns: Ping on a line without addresses")
	}
	for try := 0; try < 3; try++ {
		out, err := l.B.Command("ping", "-c", strconv.Itoa(n), "-i", "0.2", "-W", "2", l.peer1Addr).CombinedOutput()
		if err == nil && strings.Contains(string(out), strconv.Itoa(n)+" received") {
			return true
		}
		tb.Logf("ping (try %d): %v\n%s", try+1, err, out)
	}
	return false
}

// Ethtool sets features of the link (`ethtool -K NAME features...`).
func (l Link) Ethtool(tb testing.TB, features ...string) {
	tb.Helper()
	l.NS.Run(tb, "ethtool", append([]string{"-K", l.Name}, features...)...)
}
