package drmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"golang.org/x/net/ipv4"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/rmon/stats"
	"github.com/wirebox/wirebox/tap"
)

// Run counts the host's traffic on the interfaces with the capture core in
// passive mode (one read-only subscription per interface) and answers
// proxies until ctx ends.
func Run(ctx context.Context, cfg RunConfig) error {
	if len(cfg.Interfaces) == 0 {
		return errors.New("drmon agent: no interface given")
	}
	if cfg.TLSProxy != "" {
		a, err := net.ResolveTCPAddr("tcp4", cfg.TLSProxy)
		if err != nil || cfg.TLS == nil {
			return fmt.Errorf("drmon agent: tls proxy %q: %v", cfg.TLSProxy, err)
		}
		cfg.Group, cfg.Proxies = nil, []*net.UDPAddr{{IP: a.IP, Port: a.Port}}
	}
	if cfg.Group == nil && len(cfg.Proxies) == 0 {
		return errors.New("drmon agent: give a discovery group or the proxy's address")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	var macs [][6]byte
	var ifis []*net.Interface
	for _, name := range cfg.Interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("drmon agent: %w", err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("drmon agent: %s has no Ethernet address", name)
		}
		macs = append(macs, [6]byte(ifi.HardwareAddr))
		ifis = append(ifis, ifi)
	}
	agent, err := NewAgent(AgentConfig{Key: cfg.Key, Name: cfg.Name, MACs: macs, Proxies: cfg.Proxies, HelloInterval: cfg.HelloInterval, Log: cfg.Log})
	if err != nil {
		return err
	}
	pool, err := tap.NewPool(tap.Config{Frames: 4096})
	if err != nil {
		return fmt.Errorf("drmon agent: buffer pool: %w", err)
	}
	defer pool.Close()
	core := capture.NewCore(pool, cfg.Log)
	defer core.Close()
	k := core.NewConsumer("drmon agent")
	defer k.Close()
	var subs []*capture.Subscription
	for _, name := range cfg.Interfaces {
		p, err := core.OpenPort(capture.PortConfig{Name: name, Mode: capture.Passive, RingBlocks: 4})
		if err != nil {
			return fmt.Errorf("drmon agent: %s: %w", name, err)
		}
		sub, err := k.Subscribe(p, capture.SubscribeOptions{Name: "drmon", Kind: capture.ReadOnly, Direction: capture.Both, Queue: 1024})
		if err != nil {
			return fmt.Errorf("drmon agent: %s: %w", name, err)
		}
		subs = append(subs, sub)
	}
	conn, err := agentConn(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	if cfg.Group != nil {
		pc := ipv4.NewPacketConn(conn)
		for _, ifi := range ifis {
			if err := pc.JoinGroup(ifi, &net.UDPAddr{IP: cfg.Group.IP}); err != nil {
				return fmt.Errorf("drmon agent: join %s on %s: %w", cfg.Group.IP, ifi.Name, err)
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			countFrom(ctx, sub, agent)
		}()
	}
	cfg.Log.Info("drmon agent running", "id", fmt.Sprintf("%016x", agent.ID()), "interfaces", cfg.Interfaces, "listen", conn.LocalAddr().String())
	if cfg.Ready != nil {
		cfg.Ready(agent, conn.LocalAddr())
	}
	return agent.Serve(ctx, conn)
}

// agentConn is the agent's socket: UDP on its listen address, or its TLS
// connection to the proxy.
func agentConn(cfg RunConfig) (net.PacketConn, error) {
	if cfg.TLSProxy != "" {
		return DialTLS(cfg.TLSProxy, cfg.TLS, cfg.Log)
	}
	listen := cfg.Listen
	if listen == "" {
		port := 0
		if cfg.Group != nil {
			port = cfg.Group.Port
		}
		listen = fmt.Sprintf("0.0.0.0:%d", port)
	}
	conn, err := net.ListenPacket("udp4", listen)
	if err != nil {
		return nil, fmt.Errorf("drmon agent: listen %s: %w", listen, err)
	}
	return conn, nil
}

func countFrom(ctx context.Context, sub *capture.Subscription, a *Agent) {
	frames := make([]capture.Frame, 256)
	batch := make([]stats.Frame, 256)
	ts := make([]int64, 256)
	for {
		n, err := sub.Receive(ctx, frames)
		for i, f := range frames[:n] {
			batch[i] = stats.Frame{Data: f.Data(), WireLen: f.WireLen(), TX: f.Direction() == capture.TX}
			ts[i] = f.Timestamp()
		}
		if n > 0 {
			a.Count(batch[:n], ts[:n])
			capture.ReleaseAll(frames[:n])
		}
		if err != nil {
			return
		}
	}
}
