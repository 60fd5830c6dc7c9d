package rmonsys_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/rmon"
	"github.com/wirebox/wirebox/rmon/rmonsys"
)

// freeUDP returns a loopback UDP port nobody uses right now.
func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// TestDaemonServesRMON: the real daemon with an rmon section answers
// net-snmp's snmpget and counts the frames its port received, and
// `wirebox rmon` shows the same.
func TestDaemonServesRMON(t *testing.T) {
	pkttest.Need(t, "snmpget")
	p := netns.Pair(t)
	cfg := config.Default(rmonsys.Section)
	cfg.Name = "rmontest"
	cfg.Ports = []config.PortConfig{{Name: p.NearLink.Name, Mode: config.PortPassive, Netns: p.Near.Path}}
	addr := freeUDP(t)
	sec := rmonsys.Section.Of(cfg)
	sec.Listen = addr
	sec.Communities = []rmon.CommunityConfig{{Name: "lab-ro"}}
	d := testutil.StartDaemon(t, cfg)
	d.WaitRunning(t, "core", rmon.Name)

	frame := pkttest.UDP(t, "10.7.0.1", "10.7.0.2", 1, 2, make([]byte, 100))
	copy(frame, p.NearLink.MAC)
	snd := p.Sender(t)
	for i := 0; i < 50; i++ {
		snd.Send(t, frame)
	}
	// etherStatsPkts of the monitor row of the first port (index 1).
	var out string
	deadline := time.Now().Add(15 * time.Second)
	for {
		out = pkttest.Run(t, "snmpget", "-v2c", "-c", "lab-ro", "-Oqv", "udp:"+addr, "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.16.1.1.1.5.1")
		lines := pkttest.Lines(out)
		if len(lines) == 2 && strings.TrimSpace(lines[1]) == "50" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmpget: %s, want etherStatsPkts 50", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := pkttest.RunErr("snmpget", "-v2c", "-c", "public", "-t", "0.5", "-r", "0", "udp:"+addr, "1.3.6.1.2.1.1.1.0"); err == nil {
		t.Fatal("the community public is answered, but was never configured")
	}
	js, err := d.Run("rmon", "--json")
	var s rmon.Summary
	if err != nil || json.Unmarshal([]byte(js), &s) != nil || len(s.Ports) != 1 || s.Ports[0].Ether.Pkts != 50 {
		t.Fatalf("wirebox rmon --json: %v %s", err, js)
	}
	text, err := d.Run("rmon")
	if err != nil || !strings.Contains(text, fmt.Sprintf("agent %s", addr)) {
		t.Fatalf("wirebox rmon: %v %s", err, text)
	}
}
