package rmonsys_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/selfsigned"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/rmon"
)

// TestDRMONTLS: an agent reports over TCP with TLS, certificates checked
// both ways (the proxy's signed by the appliance's CA, the agent's by the
// same CA); an agent whose certificate another CA signed is refused.
func TestDRMONTLS(t *testing.T) {
	pkttest.Need(t, "snmpget", "ping")
	dir := t.TempDir()
	ca := func(sub string) selfsigned.Files {
		f := selfsigned.Files{CA: filepath.Join(dir, sub, "ca.pem"), CAKey: filepath.Join(dir, sub, "ca.key"),
			Cert: filepath.Join(dir, sub, "proxy.pem"), Key: filepath.Join(dir, sub, "proxy.key")}
		if _, err := selfsigned.Ensure(f, selfsigned.Options{CAName: sub, IPs: []net.IP{net.ParseIP("10.77.0.10")}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		return f
	}
	app, other := ca("appliance"), ca("other")
	issue := func(f selfsigned.Files, name string) (string, string) {
		c, k := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		if err := selfsigned.IssueClient(f, name, c, k, time.Now()); err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	l := newDRMONLab(t, func(c *rmon.Config) {
		c.DRMON.DiscoveryGroup = ""
		c.DRMON.TLSListen, c.DRMON.TLSCertFile, c.DRMON.TLSKeyFile, c.DRMON.TLSCAFile = "10.77.0.10:7162", app.Cert, app.Key, app.CA
	})
	// h1's certificate as an operator makes it: wirebox agent cert.
	c1, k1 := filepath.Join(dir, "h1.pem"), filepath.Join(dir, "h1.key")
	if out, err := exec.Command(testutil.Wirebox(t), "agent", "cert", "--ca", app.CA, "--ca-key", app.CAKey, "--name", "h1", "--out", filepath.Join(dir, "h1")).CombinedOutput(); err != nil {
		t.Fatalf("wirebox agent cert: %v %s", err, out)
	}
	c2, k2 := issue(other, "h2")
	l.startAgent(0, "--tls-proxy", "10.77.0.10:7162", "--tls-cert", c1, "--tls-key", k1, "--tls-ca", app.CA, "--hello-interval", "300ms")
	l.startAgent(1, "--tls-proxy", "10.77.0.10:7162", "--tls-cert", c2, "--tls-key", k2, "--tls-ca", app.CA, "--hello-interval", "300ms")
	l.wait("h1 reporting over TLS", func() bool {
		for _, a := range l.summary().DRMON.Agents {
			if a.Name == "h1" && a.Seq > 0 && strings.HasPrefix(a.Addr, "tls://") {
				return true
			}
		}
		return false
	})
	if out, err := l.hosts[0].Command("ping", "-q", "-c", "4", "-i", "0.01", l.ips[3]).CombinedOutput(); err != nil {
		t.Fatalf("ping: %v %s", err, out)
	}
	l.wait("h1->h4 merged", func() bool {
		out := l.snmp("snmpget", "lab-ro", "-Oqv", "udp:127.0.0.1:1161", "1.3.6.1.2.1.16.6.2.1.4.2."+macOID(l.macs[0])+"."+macOID(l.macs[3]))
		return strings.TrimSpace(out) == "4"
	})
	l.wait("h2's handshake refused", func() bool { return strings.Contains(l.d.Log(), "drmon tls: handshake") })
	for _, a := range l.summary().DRMON.Agents {
		if a.Name == "h2" {
			t.Errorf("h2, whose certificate another CA signed, is an agent: %+v", a)
		}
	}
}
