package drmon

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// TestHierarchy: two workgroup proxies report their merged views to a
// domain proxy over the same protocol; the domain's view is the sum of
// the workgroups', with traffic between workgroups counted once.
func TestHierarchy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	proxy := func() (*Proxy, *net.UDPAddr) {
		c := listen(t)
		p, err := NewProxy(ProxyConfig{Key: testKey, PollInterval: 30 * time.Millisecond, MaxDelay: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		run(func() { p.Serve(ctx, c) })
		return p, c.LocalAddr().(*net.UDPAddr)
	}
	agent := func(cfg AgentConfig) *Agent {
		cfg.Key, cfg.HelloInterval = testKey, 20*time.Millisecond
		a, err := NewAgent(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := listen(t)
		run(func() { a.Serve(ctx, c) })
		return a
	}
	domain, daddr := proxy()
	wg1, addr1 := proxy()
	wg2, addr2 := proxy()
	agent(AgentConfig{Name: "wg1", ID: 1001, Source: wg1.ViewSource(0), Proxy: daddr})
	agent(AgentConfig{Name: "wg2", ID: 1002, Source: wg2.ViewSource(0), Proxy: daddr})
	h1, h2, h3, h5 := mac(1), mac(2), mac(3), mac(5)
	a1 := agent(AgentConfig{Name: "h1", MACs: [][6]byte{h1}, Proxy: addr1})
	a2 := agent(AgentConfig{Name: "h2", MACs: [][6]byte{h2}, Proxy: addr1})
	a3 := agent(AgentConfig{Name: "h3", MACs: [][6]byte{h3}, Proxy: addr2})
	a5 := agent(AgentConfig{Name: "h5", MACs: [][6]byte{h5}, Proxy: addr2})
	eventually(t, "agents known", func() bool {
		return len(wg1.Agents()) == 2 && len(wg2.Agents()) == 2 && len(domain.Agents()) == 2
	})
	send := func(from, to *Agent, n int, dst, src [6]byte) {
		for range n {
			count(from, true, frame(dst, src, 100))
			count(to, false, frame(dst, src, 100))
		}
	}
	send(a1, a2, 5, h2, h1)
	send(a2, a1, 2, h1, h2)
	send(a3, a5, 4, h5, h3)
	send(a5, a3, 1, h3, h5)
	send(a1, a3, 3, h3, h1) // between workgroups: in both, once in the domain
	pkts := func(p *Proxy) uint64 { e, _, _ := p.Views()[0].St.EtherSnapshot(); return e.Pkts }
	eventually(t, "workgroups merged", func() bool { return pkts(wg1) == 10 && pkts(wg2) == 8 })
	eventually(t, "domain merged", func() bool { return pkts(domain) == 15 })
	time.Sleep(150 * time.Millisecond) // more polls add nothing
	if pkts(domain) != 15 {
		t.Fatalf("domain %d packets, want 15 (10 + 8 - 3 counted by both workgroups)", pkts(domain))
	}
	dom := domain.ViewSource(0).Pairs()
	w1, w2 := wg1.ViewSource(0).Pairs(), wg2.ViewSource(0).Pairs()
	for k, c := range dom {
		x, in1 := w1[k]
		y, in2 := w2[k]
		switch {
		case in1 && in2 && x == y && c == x:
		case in1 && !in2 && c == x:
		case in2 && !in1 && c == y:
		default:
			t.Errorf("domain pair %x->%x %+v; workgroups %+v %+v", k.Src, k.Dst, c, x, y)
		}
	}
	if len(dom) != 5 || len(w1)+len(w2) != 6 {
		t.Errorf("pairs: domain %d, workgroups %d + %d", len(dom), len(w1), len(w2))
	}
}
