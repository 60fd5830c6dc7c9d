package coresvc

import (
	"context"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/services"
)

// watchLinks opens auto ports until ctx ends: at start, on every link
// event, and twice a second (for links whose decision was "not yet", and
// for events a full socket buffer dropped).
func (s *Service) watchLinks(ctx context.Context, c *capture.Core, a *AutoOptions, rt *services.Runtime) {
	nsh := netns.None()
	if a.Netns != "" {
		h, err := netns.GetFromPath(a.Netns)
		if err != nil {
			rt.Log.Error("auto ports: open netns", "netns", a.Netns, "err", err)
			return
		}
		defer h.Close()
		nsh = h
	}
	h, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE) // route only: kernels without XFRM refuse the rest
	if err != nil {
		rt.Log.Error("auto ports: netlink", "err", err)
		return
	}
	defer h.Close()
	done := make(chan struct{})
	defer close(done)
	ch := make(chan netlink.LinkUpdate, 64)
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(err error) { rt.Log.Debug("auto ports: link events", "err", err) }}
	if a.Netns != "" {
		opts.Namespace = &nsh
	}
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		rt.Log.Warn("auto ports: no link events, polling only", "err", err)
		ch = nil
	}
	failed := map[string]time.Time{} // open failed: retry after a while
	scan := func() {
		links, err := h.LinkList()
		if err != nil {
			rt.Log.Warn("auto ports: list links", "err", err)
			return
		}
		for _, l := range links {
			name := l.Attrs().Name
			if c.Port(name) != nil {
				continue
			}
			if t, ok := failed[name]; ok && time.Since(t) < 5*time.Second {
				continue
			}
			open, decided := a.Want(name, l.Type())
			if !decided || !open {
				continue
			}
			pc := a.Template
			_, err := c.OpenPort(capture.PortConfig{
				Name: name, Mode: capture.Mode(pc.Mode), Queues: pc.Queues, NetNS: a.Netns,
				RingBlocks: pc.RingBlocks, BlockSize: pc.BlockSize, RingFrames: pc.RingFrames,
			})
			if err != nil {
				failed[name] = time.Now()
				rt.Log.Warn("auto ports: open", "port", name, "err", err)
				continue
			}
			delete(failed, name)
			rt.Log.Info("auto port opened", "port", name, "kind", l.Type(), "mode", pc.Mode)
		}
	}
	scan()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				ch = nil
				continue
			}
			scan()
		case <-tick.C:
			scan()
		}
	}
}
