package rmonsys_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/rmon"
)

// TestDRMONHistory: a manager creates a 1-second history row on the dRMON
// view with snmpset while the proxy polls only every 3 s; the agents count
// their frames into the row's buckets by time (in the proxy's clock), so
// the buckets show the traffic as it was each second, not in lumps at
// each poll.
func TestDRMONHistory(t *testing.T) {
	pkttest.Need(t, "snmpwalk", "snmpset", "ping")
	l := newDRMONLab(t, func(c *rmon.Config) {
		writable(c)
		c.DRMON.PollInterval = "3s"
	})
	l.startAgents(2)
	const (
		agent = "udp:127.0.0.1:1161"
		ctl   = "1.3.6.1.2.1.16.2.1.1."
		pkts  = "1.3.6.1.2.1.16.2.2.1.6.1" // etherHistoryPkts of row 1
	)
	l.snmp("snmpset", "lab-rw", agent, ctl+"7.1", "i", "2", ctl+"2.1", "o", ".1.3.6.1.2.1.2.2.1.1.2", ctl+"3.1", "i", "60", ctl+"5.1", "i", "1")
	l.snmp("snmpset", "lab-rw", agent, ctl+"7.1", "i", "1")
	l.wait("both agents keep the history row", func() bool { return agentLogHas(l, "histories=1") })

	// h1 and h2 each ping h4 (no agent) 10 times a second for 5 s: 40
	// frames a second into the view.
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.hosts[i].Command("ping", "-q", "-c", "50", "-i", "0.1", l.ips[3]).Run()
		}()
	}
	wg.Wait()
	buckets := func() []int {
		out := l.snmp("snmpwalk", "lab-ro", "-Oqv", agent, pkts)
		var b []int
		for _, line := range pkttest.Lines(out) {
			if n, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
				b = append(b, n)
			}
		}
		return b
	}
	var got []int
	total := func() int {
		n := 0
		for _, v := range got {
			n += v
		}
		return n
	}
	l.wait("the pings in the history buckets", func() bool { got = buckets(); return total() >= 200 })
	// Seconds fully inside the pings hold about 40 frames each (a poll's
	// own frames besides); lumps of a 3-second poll would be ~120 and 0.
	even := 0
	for _, v := range got {
		if v >= 30 && v <= 55 {
			even++
		}
	}
	t.Logf("etherHistoryPkts per second: %v", got)
	if even < 3 {
		t.Errorf("etherHistoryPkts %v: want at least 3 one-second buckets of 30-55 frames (40 a second sent)", got)
	}
	if total() > 200+60 {
		t.Errorf("etherHistoryPkts total %d for 200 ping frames (and some dRMON traffic)", total())
	}
}
