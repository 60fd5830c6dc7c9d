package node

import (
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/netns"
)

// TestForwarderAlone: one appliance with the forwarder alone (no peer)
// between a client namespace and a server namespace: real TCP
// connections through the VIP reach both backends (round robin) and
// carry every byte both ways; UDP through the VIP is answered from the
// VIP; the appliance answers ARP for the VIP.
func TestForwarderAlone(t *testing.T) {
	cl, ap, sv := netns.New(t), netns.New(t), netns.New(t)
	netns.Veth(t, cl, "c0", ap, "a0", netns.VethOptions{AddrA: clientIP + "/24"})
	netns.Veth(t, ap, "a1", sv, "s0", netns.VethOptions{AddrB: server1 + "/24"})
	run(t, sv, "ip", "addr", "add", server2+"/24", "dev", "s0")
	run(t, sv, "ip", "route", "add", "10.0.1.0/24", "via", gateway)
	hostEnd(t, cl, "c0")
	hostEnd(t, sv, "s0")
	a := newAppliance(t, ap, "a0", "a1")
	n, _ := startNode(t, a, Config{ClientPort: "a0", ServerPort: "a1", Service: service(), Gateway: mustAddr(gateway)}, "alone")
	servers(t, sv)

	seen := map[string]bool{}
	for i := range 4 {
		c := dial(t, cl, "tcp", vip+":80")
		echo(t, c, 1<<20+i*7919)
		if got := c.RemoteAddr().String(); got != vip+":80" {
			t.Fatalf("connected to %s", got)
		}
	}
	for range 4 { // round robin is per service: these alternate too
		u := dial(t, cl, "udp", vip+":80")
		ans := udpEcho(t, u, "ping")
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
	out, _ := cl.Command("ip", "neigh", "show", vip).CombinedOutput()
	if !strings.Contains(string(out), strings.ToLower(a.core.Port("a0").Info().MAC.String())) {
		t.Fatalf("client's neighbour entry for the VIP: %s", out)
	}
	t.Logf("status: %+v", st)
}
