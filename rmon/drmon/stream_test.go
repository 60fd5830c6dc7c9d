package drmon

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/selfsigned"
)

// pki writes a CA with a server certificate for 127.0.0.1 and a client
// certificate it signed, in dir.
func pki(t *testing.T, dir string) (f selfsigned.Files, clientCert, clientKey string) {
	t.Helper()
	f = selfsigned.Files{CA: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca.key"), Cert: filepath.Join(dir, "proxy.pem"), Key: filepath.Join(dir, "proxy.key")}
	if _, err := selfsigned.Ensure(f, selfsigned.Options{CAName: "test CA", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey = filepath.Join(dir, "agent.pem"), filepath.Join(dir, "agent.key")
	if err := selfsigned.IssueClient(f, "h1", clientCert, clientKey, time.Now()); err != nil {
		t.Fatal(err)
	}
	return f, clientCert, clientKey
}

// TestTLSTransport: an agent reports over TLS with certificates both ways;
// an agent whose certificate another CA signed is refused by the proxy,
// one that does not trust the proxy's CA refuses it, and one whose name
// is not its certificate's is dropped.
func TestTLSTransport(t *testing.T) {
	ca, cert, key := pki(t, t.TempDir())
	other, otherCert, otherKey := pki(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	srv, err := TLSConfig(true, ca.Cert, ca.Key, ca.CA, "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ListenTLS(l, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := NewProxy(ProxyConfig{Key: testKey, PollInterval: 30 * time.Millisecond, MaxDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pc := listen(t)
	run(func() { proxy.Serve(ctx, pc) })
	run(func() { proxy.ServeTLS(ctx, sc) })
	addr := l.Addr().(*net.TCPAddr)
	agent := func(m [6]byte, name, cert, key, caFile string) (*Agent, *StreamConn) {
		cfg, err := TLSConfig(false, cert, key, caFile, "")
		if err != nil {
			t.Fatal(err)
		}
		cfg.ServerName = "127.0.0.1"
		c, err := DialTLS(addr.String(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAgent(AgentConfig{Key: testKey, Name: name, MACs: [][6]byte{m}, Proxy: &net.UDPAddr{IP: addr.IP, Port: addr.Port}, HelloInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		run(func() { a.Serve(ctx, c) })
		return a, c
	}
	a1, _ := agent(mac(1), "h1", cert, key, ca.CA)
	count(a1, true, frame(mac(2), mac(1), 100), frame(mac(2), mac(1), 100))
	st := proxy.Views()[0].St
	eventually(t, "the TLS agent's report merged", func() bool { return pairOf(st, mac(1), mac(2)).Pkts == 2 })
	if s := proxy.Agents(); len(s) != 1 || !strings.HasPrefix(s[0].Addr, "tls://") {
		t.Errorf("agents %+v", s)
	}
	// Signed by another CA: the proxy refuses the handshake.
	_, _ = agent(mac(3), "forged", otherCert, otherKey, ca.CA)
	eventually(t, "the foreign agent refused", func() bool { return sc.Refused.Load() > 0 })
	// Trusting another CA: the agent refuses the proxy.
	_, c4 := agent(mac(4), "distrustful", cert, key, other.CA)
	eventually(t, "the agent refuses the proxy", func() bool { return c4.Refused.Load() > 0 })
	// A certificate of the CA, but for another name: the agent is who its
	// certificate says.
	bad := proxy.BadAuth.Load()
	agent(mac(5), "impostor", cert, key, ca.CA)
	eventually(t, "the impostor dropped", func() bool { return proxy.BadAuth.Load() > bad })
	time.Sleep(100 * time.Millisecond)
	if s := proxy.Agents(); len(s) != 1 {
		t.Errorf("agents %+v; want h1 only", s)
	}
}
