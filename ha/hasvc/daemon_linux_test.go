package hasvc_test

import (
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/ha/hasvc"
	"github.com/wirebox/wirebox/ha/hatest"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
)

func pairDaemon(t *testing.T, p *hatest.PairTopo, a bool, prio int) *testutil.Daemon {
	ns, cp, sp, me, them, wme, wthem := p.NSA, "a0", "a1", "10.0.9.1", "10.0.9.2", "10.0.8.1", "10.0.8.2"
	if !a {
		ns, cp, sp, me, them, wme, wthem = p.NSB, "b0", "b1", them, me, wthem, wme
	}
	cfg := config.Default(hasvc.Section)
	cfg.Name = "ha-" + cp
	cfg.Ports = []config.PortConfig{{Name: cp, Mode: config.PortBypass, Netns: ns.Path}, {Name: sp, Mode: config.PortBypass, Netns: ns.Path}}
	h := hasvc.Section.Of(cfg)
	h.Enabled, h.ClientPort, h.ServerPort, h.Gateway = true, cp, sp, hatest.Gateway
	h.Service = hasvc.ServiceConfig{VIP: hatest.VIP, Port: 80, Backends: []string{hatest.Server1 + ":8080", hatest.Server2 + ":8081"}, Balance: "round_robin"}
	h.Peer = hasvc.PeerConfig{Listen: me + ":7400", Address: them + ":7400", Key: hex.EncodeToString(hatest.Key), NetNS: ns.Path,
		Interval: config.Duration(20 * time.Millisecond), DeadAfter: 3, Priority: prio, Mode: "standby_response",
		Witness: wthem + ":7401", WitnessListen: wme + ":7401"}
	for _, dev := range []string{cp, sp} {
		ns.Run(t, "ethtool", "-K", dev, "gro", "on")
	}
	d := testutil.StartDaemon(t, cfg)
	d.WaitRunning(t, "core", hasvc.Name)
	return d
}

func status(t *testing.T, d *testutil.Daemon) api.HAStatus {
	t.Helper()
	return testutil.CLIJSON[api.HAStatus](t, d.Run, "ha", "status", "--json")
}

// TestDaemonPairKill: two wirebox daemons as the pair (standby response,
// 20 ms heartbeats) between a client switch and a server switch; with a
// byte-checked stream and 100 idle connections through the VIP, the
// active daemon is killed with SIGKILL: the standby daemon takes over,
// every connection survives, the client sees no reset. `wirebox ha
// status`, /v1/ha and the metrics report it; `wirebox ha failover`
// without a peer is refused.
func TestDaemonPairKill(t *testing.T) {
	netns.Require(t)
	p := hatest.NewPairTopo(t)
	hatest.Servers(t, p.Sv)
	da := pairDaemon(t, p, true, 200)
	testutil.WaitFor(t, "A active", func() bool { return status(t, da).Role == "active" })
	db := pairDaemon(t, p, false, 100)
	testutil.WaitFor(t, "B standby in sync", func() bool { st := status(t, db); return st.Role == "standby" && st.InSync })
	rsts := hatest.RSTWatch(t, p.Cl)

	s := hatest.StartStream(t, hatest.Dial(t, p.Cl, "tcp", hatest.VIP+":80"))
	defer s.End()
	idle := hatest.IdleConns(t, p.Cl, 100)
	s.Progress(t, 1<<20)
	testutil.WaitFor(t, "B tracking every connection", func() bool { return status(t, db).Connections >= 101 })

	s.MaxStall.Store(0)
	crash := time.Now()
	da.Kill()
	testutil.WaitFor(t, "B active", func() bool { return status(t, db).Role == "active" })
	took := time.Since(crash)
	s.Progress(t, 1<<20)
	hatest.PingAll(t, idle, "after kill -9")
	s.Check(t)
	st := status(t, db)
	t.Logf("kill -9 of the active daemon: B active within %v (seen by polling), largest stream stall %v, last failover %+v",
		took, time.Duration(s.MaxStall.Load()), *st.LastFailover)
	if n := rsts(); n != 0 {
		t.Fatalf("the client saw %d resets", n)
	}
	if st.PeerAlive || st.LastFailover == nil || st.LastFailover.Reason != "peer lost" {
		t.Fatalf("status after the crash: %+v", st)
	}

	text, err := db.Run("ha", "status")
	if err != nil || !strings.Contains(text, "role:") || !strings.Contains(text, "active") {
		t.Fatalf("ha status text: %v\n%s", err, text)
	}
	if out, err := db.Run("ha", "failover"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("failover without a peer: %v %s", err, out)
	}
	resp, err := db.Client.Do(t.Context(), http.MethodGet, api.PathMetrics, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `wirebox_ha_role{role="active"} 1`) ||
		!strings.Contains(string(body), `wirebox_ha_link_messages_total{link="peer",outcome="forged"}`) {
		t.Fatalf("metrics:\n%s", body)
	}
}
