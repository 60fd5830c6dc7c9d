package taptest

import (
	"testing"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/capturetest"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/tap"
)

// Addresses of the peers.
const (
	Peer0 = "10.77.0.1"
	Peer1 = "10.77.0.2"
)

// Line is netns.Line (B, peer0 Peer0 — wb0 [A] wb1 — peer1 Peer1, C,
// GRO on at every end, as on a real host) with wb0 and wb1 as bypass ports
// of Core: with forward they forward to each other (a bridge in the
// core), without it only a tap application moves frames between them.
// Ping (netns.Line's) pings Peer1 from Peer0.
type Line struct {
	*netns.Line
	Core     *capture.Core
	Pool     *tap.Pool
	WB0, WB1 *capture.Port
}

// NewLine builds the line; its cleanup closes the core and fails the test
// unless every frame is back in the pool.
func NewLine(t *testing.T, forward bool) *Line {
	t.Helper()
	l := &Line{Line: netns.NewLine(t, netns.LineOptions{Peer0: Peer0 + "/24", Peer1: Peer1 + "/24", GRO: true})}
	l.Core = capturetest.Core(t, 32768)
	l.Pool = l.Core.Pool()
	f0, f1 := "", ""
	if forward {
		f0, f1 = "wb1", "wb0"
	}
	var err error
	if l.WB0, err = l.Core.OpenPort(capture.PortConfig{Name: "wb0", NetNS: l.A.Path, Mode: capture.Bypass, Forward: f0}); err != nil {
		t.Fatal(err)
	}
	if l.WB1, err = l.Core.OpenPort(capture.PortConfig{Name: "wb1", NetNS: l.A.Path, Mode: capture.Bypass, Forward: f1}); err != nil {
		t.Fatal(err)
	}
	return l
}
