package node

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/ha/hatest"
	"github.com/wirebox/wirebox/internal/netns"
)

// TestForwarderAlone: one appliance with the forwarder alone (no peer)
// between a client namespace and a server namespace: real TCP
// connections through the VIP reach both backends (round robin) and
// carry every byte both ways; UDP through the VIP is answered from the
// VIP; the appliance answers ARP for the VIP.
func TestForwarderAlone(t *testing.T) {
	cl, ap, sv := netns.New(t), netns.New(t), netns.New(t)
	netns.Veth(t, cl, "c0", ap, "a0", netns.VethOptions{AddrA: hatest.ClientIP + "/24"})
	netns.Veth(t, ap, "a1", sv, "s0", netns.VethOptions{AddrB: hatest.Server1 + "/24"})
	sv.Run(t, "ip", "addr", "add", hatest.Server2+"/24", "dev", "s0")
	sv.Run(t, "ip", "route", "add", "10.0.1.0/24", "via", hatest.Gateway)
	hatest.HostEnd(t, cl, "c0")
	hatest.HostEnd(t, sv, "s0")
	a := newAppliance(t, ap, "a0", "a1")
	n, _ := startNode(t, a, Config{ClientPort: "a0", ServerPort: "a1", Service: hatest.Service(), Gateway: netip.MustParseAddr(hatest.Gateway)}, "alone")
	hatest.Servers(t, sv)

	seen := map[string]bool{}
	for i := range 4 {
		c := hatest.Dial(t, cl, "tcp", hatest.VIP+":80")
		hatest.Echo(t, c, 1<<20+i*7919)
		if got := c.RemoteAddr().String(); got != hatest.VIP+":80" {
			t.Fatalf("connected to %s", got)
		}
	}
	for range 4 { // round robin is per service: these alternate too
		u := hatest.Dial(t, cl, "udp", hatest.VIP+":80")
		ans := hatest.UDPEcho(t, u, "ping")
		if !strings.HasSuffix(ans, " ping") {
			t.Fatalf("udp answer %q", ans)
		}
		seen[strings.Fields(ans)[0]] = true
	}
	if len(seen) != 2 {
		t.Fatalf("UDP reached backends %v, want both", seen)
	}
	st := n.Status()
	if st.Conns != 8 || st.Role != "active" || !st.AddressOwner {
		t.Fatalf("status %+v", st)
	}
	out, _ := cl.Command("ip", "neigh", "show", hatest.VIP).CombinedOutput()
	if !strings.Contains(string(out), strings.ToLower(a.core.Port("a0").Info().MAC.String())) {
		t.Fatalf("client's neighbour entry for the VIP: %s", out)
	}
	t.Logf("status: %+v", st)
}
