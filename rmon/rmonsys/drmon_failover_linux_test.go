package rmonsys_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/rmon"
)

// TestDRMONStandbyProxy: agents are given two proxies; the second stands
// in when the first is killed (kill -9): it finds the agents, and, since
// an agent reports to a proxy new to it everything since its own boot,
// its merged view has the traffic from before the kill too.
func TestDRMONStandbyProxy(t *testing.T) {
	pkttest.Need(t, "snmpget", "ping")
	l := newDRMONLab(t, func(c *rmon.Config) { c.DRMON.DiscoveryGroup = "" })
	// The standby runs in the fourth host's namespace (10.77.0.4).
	cfg, _ := proxyConfig("drmonstandby", &rmon.DRMONConfig{Listen: "10.77.0.4:7161", KeyFile: l.keyFile, PollInterval: "300ms", Views: []rmon.DRMONView{{Name: "segment"}}})
	standby := testutil.StartDaemonInNetns(t, l.hosts[3].Name, cfg)
	standby.WaitRunning(t, "core", rmon.Name)
	for i := range 2 {
		l.startAgent(i, "--group", "", "--proxy", "10.77.0.10:7161,10.77.0.4:7161", "--hello-interval", "300ms")
	}
	reporting := func(d *testutil.Daemon) int {
		n := 0
		for _, a := range l.summaryOf(d).DRMON.Agents {
			if a.Seq > 0 {
				n++
			}
		}
		return n
	}
	l.wait("both agents reporting to the first proxy", func() bool { return reporting(l.d) == 2 })
	if n := len(l.summaryOf(standby).DRMON.Agents); n != 0 {
		t.Fatalf("the standby has %d agents while the first proxy answers", n)
	}
	pairPkts := func(ns string, src, dst int) string {
		t.Helper()
		oid := fmt.Sprintf("1.3.6.1.2.1.16.6.2.1.4.2.%s.%s", macOID(l.macs[src]), macOID(l.macs[dst]))
		out := pkttest.Run(t, "ip", "netns", "exec", ns, "snmpget", "-v2c", "-c", "lab-ro", "-Oqv", "udp:127.0.0.1:1161", oid)
		return strings.TrimSpace(out)
	}
	ping := func(count int) {
		t.Helper()
		if out, err := l.hosts[0].Command("ping", "-q", "-c", fmt.Sprint(count), "-i", "0.01", l.ips[1]).CombinedOutput(); err != nil {
			t.Fatalf("ping: %v %s", err, out)
		}
	}
	ping(10)
	l.wait("the first proxy's matrix", func() bool { return pairPkts(l.app.Name, 0, 1) == "10" })

	l.d.Kill()
	l.wait("the standby polls both agents", func() bool { return reporting(standby) == 2 })
	// Everything since the agents' boot: the 10 from before the kill.
	l.wait("the standby's matrix has the traffic from before the kill", func() bool { return pairPkts(l.hosts[3].Name, 0, 1) == "10" })
	ping(5)
	l.wait("and what follows", func() bool { return pairPkts(l.hosts[3].Name, 0, 1) == "15" })
	// The replies come in the other agent's report, which may be a poll later.
	l.wait("h2->h1 on the standby at 15", func() bool { return pairPkts(l.hosts[3].Name, 1, 0) == "15" })
}
