package taptest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/capturetest"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/tap"
)

// Addresses of the peers.
const (
	Peer0 = "10.77.0.1"
	Peer1 = "10.77.0.2"
)

// Line is b (peer0 Peer0) — wb0 [a] wb1 — (peer1 Peer1) c: wb0 and wb1
// are bypass ports of Core; with forward they forward to each other (a
// bridge in the core), without it only a tap application moves frames
// between them. GRO is on at every end, as on a real host.
type Line struct {
	A, B, C  *netns.NS
	Core     *capture.Core
	Pool     *tap.Pool
	WB0, WB1 *capture.Port
}

// NewLine builds the line; its cleanup closes the core and fails the test
// unless every frame is back in the pool.
func NewLine(t *testing.T, forward bool) *Line {
	t.Helper()
	netns.Require(t)
	l := &Line{A: netns.New(t), B: netns.New(t), C: netns.New(t)}
	netns.Veth(t, l.B, "peer0", l.A, "wb0", netns.VethOptions{AddrA: Peer0 + "/24"})
	netns.Veth(t, l.A, "wb1", l.C, "peer1", netns.VethOptions{AddrB: Peer1 + "/24"})
	for _, c := range []*exec.Cmd{
		l.B.Command("ethtool", "-K", "peer0", "gro", "on"), l.A.Command("ethtool", "-K", "wb0", "gro", "on"),
		l.A.Command("ethtool", "-K", "wb1", "gro", "on"), l.C.Command("ethtool", "-K", "peer1", "gro", "on"),
	} {
		testutil.Run(t, c)
	}
	l.Core = capturetest.Core(t, 32768)
	l.Pool = l.Core.Pool()
	var err error
	f0, f1 := "", ""
	if forward {
		f0, f1 = "wb1", "wb0"
	}
	if l.WB0, err = l.Core.OpenPort(capture.PortConfig{Name: "wb0", NetNS: l.A.Path, Mode: capture.Bypass, Forward: f0}); err != nil {
		t.Fatal(err)
	}
	if l.WB1, err = l.Core.OpenPort(capture.PortConfig{Name: "wb1", NetNS: l.A.Path, Mode: capture.Bypass, Forward: f1}); err != nil {
		t.Fatal(err)
	}
	return l
}

// Ping pings peer1 from peer0 with n echoes; it reports whether all came
// back. A loaded machine may lose the first echo to a slow ARP: up to
// three tries, each of which must see every reply.
func (l *Line) Ping(t *testing.T, n int) bool {
	t.Helper()
	for try := 0; try < 3; try++ {
		out, err := l.B.Command("ping", "-c", strconv.Itoa(n), "-i", "0.2", "-W", "2", Peer1).CombinedOutput()
		if err == nil && strings.Contains(string(out), strconv.Itoa(n)+" received") {
			return true
		}
		t.Logf("ping (try %d): %v\n%s", try+1, err, out)
	}
	return false
}
