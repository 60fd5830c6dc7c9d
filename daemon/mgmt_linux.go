package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/services"
)

// Run configures the management NIC and keeps its DHCP lease. It is ready
// at once: the API listens on the wildcard address and needs no address
// to start; auto ports wait for the decision instead (Interface).
func (m *mgmtService) Run(ctx context.Context, rt *services.Runtime) error {
	rt.Ready()
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	c := m.cfg
	switch {
	case c.Address != "":
		link, err := upLink(ctx, c.Interface)
		if err != nil {
			return err
		}
		if err := staticAddr(link, c.Address, c.Gateway); err != nil {
			return err
		}
		m.decide(c.Interface, "static")
		m.addressed()
		m.refresh(link)
		rt.Log.Info("management address", "interface", c.Interface, "address", c.Address, "gateway", c.Gateway)
		<-ctx.Done()
		return nil
	case c.Interface != "":
		m.decide(c.Interface, "dhcp")
		link, err := upLink(ctx, c.Interface)
		if err != nil {
			return err
		}
		if !c.DHCP {
			m.refresh(link)
			<-ctx.Done()
			return nil
		}
		return m.keepLease(ctx, rt, link)
	}
	// The first NIC with an address already, else the first lease.
	links, err := nics()
	if err != nil {
		return err
	}
	for _, l := range links {
		if hasGlobalV4(l) {
			m.decide(l.Attrs().Name, "existing address")
			m.addressed()
			m.refresh(l)
			rt.Log.Info("management interface has an address already", "interface", l.Attrs().Name)
			return m.keepLease(ctx, rt, l)
		}
	}
	if len(links) == 0 {
		m.decide("", "no NIC")
		rt.Log.Warn("no NIC for the management network")
		<-ctx.Done()
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, c.DHCPTimeout.D())
	defer cancel()
	res := dhclient.SendRequests(dctx, links, true, false, dhcpConfig(c.DHCPTimeout.D()), 5*time.Second)
	var errs []error
	for r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Interface.Attrs().Name, r.Err))
			continue
		}
		cancel() // the other NICs are ports, not management
		if err := m.configure(rt, r.Lease); err != nil {
			errs = append(errs, err)
			continue
		}
		m.decide(r.Interface.Attrs().Name, "dhcp")
		for range res { // let the other attempts end
		}
		return m.keepLease(ctx, rt, r.Interface)
	}
	if ctx.Err() != nil {
		return nil
	}
	m.decide("", "no DHCP lease")
	m.update(func(st *api.Management) { st.Error = errors.Join(errs...).Error() })
	rt.Log.Warn("no DHCP lease on any NIC yet: every NIC is a port; still asking", "waited", c.DHCPTimeout.D(), "err", errors.Join(errs...))
	// Keep asking on every NIC: a lease that comes late still gives the box
	// an address to be reached at (the NIC stays a passive port).
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(30 * time.Second):
		}
		links, err := nics()
		if err != nil || len(links) == 0 {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, c.DHCPTimeout.D())
		res := dhclient.SendRequests(dctx, links, true, false, dhcpConfig(c.DHCPTimeout.D()), 5*time.Second)
		var got netlink.Link
		for r := range res {
			if r.Err == nil && got == nil && m.configure(rt, r.Lease) == nil {
				got = r.Interface
				cancel()
			}
		}
		cancel()
		if got != nil {
			m.update(func(st *api.Management) { st.Interface, st.Method = got.Attrs().Name, "dhcp (late)" })
			return m.keepLease(ctx, rt, got)
		}
	}
}

func dhcpConfig(timeout time.Duration) dhclient.Config {
	t := timeout / 3
	if t < time.Second {
		t = time.Second
	}
	return dhclient.Config{Timeout: t, Retries: 3, LogLevel: dhclient.LogSummary}
}

// keepLease asks for a lease on link (again, when the interface had one)
// and renews it at half its time.
func (m *mgmtService) keepLease(ctx context.Context, rt *services.Runtime, link netlink.Link) error {
	if !m.cfg.DHCP {
		<-ctx.Done()
		return nil
	}
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		res := dhclient.SendRequests(ctx, []netlink.Link{link}, true, false, dhcpConfig(m.cfg.DHCPTimeout.D()), 5*time.Second)
		wait = 30 * time.Second // after a failure
		for r := range res {
			if r.Err != nil {
				rt.Log.Warn("DHCP", "interface", link.Attrs().Name, "err", r.Err)
				m.update(func(st *api.Management) { st.Error = r.Err.Error() })
				continue
			}
			if err := m.configure(rt, r.Lease); err != nil {
				continue
			}
			if msg, _ := r.Lease.Message(); msg != nil {
				if lt := msg.IPAddressLeaseTime(time.Hour); lt > 0 {
					wait = lt / 2
				}
			}
		}
	}
}

func (m *mgmtService) configure(rt *services.Runtime, l dhclient.Lease) error {
	if err := l.Configure(); err != nil {
		rt.Log.Warn("DHCP lease: configure", "interface", l.Link().Attrs().Name, "err", err)
		m.update(func(st *api.Management) { st.Error = err.Error() })
		return err
	}
	var gw string
	if msg, _ := l.Message(); msg != nil {
		if r := msg.Router(); len(r) > 0 {
			gw = r[0].String()
		}
		rt.Log.Info("DHCP lease", "interface", l.Link().Attrs().Name, "address", msg.YourIPAddr, "server", msg.ServerIPAddr,
			"lease", msg.IPAddressLeaseTime(0), "gateway", gw)
		m.update(func(st *api.Management) { st.Gateway, st.LeaseSeconds = gw, int(msg.IPAddressLeaseTime(0).Seconds()) })
	}
	m.update(func(st *api.Management) { st.Error = "" })
	m.addressed()
	m.refresh(l.Link())
	return nil
}

var _ = dhcpv4.OptionSubnetMask // the lease's options are dhcpv4's

// refresh reads the NIC's addresses into the status.
func (m *mgmtService) refresh(link netlink.Link) {
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_ALL)
	var out []string
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, a.IPNet.String())
	}
	m.update(func(st *api.Management) { st.Addresses = out })
}

// nics are the candidate management NICs: hardware NICs ("device"), in
// index order (eth0 first), not loopback.
func nics() ([]netlink.Link, error) {
	ls, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []netlink.Link
	for _, l := range ls {
		if l.Type() == "device" && l.Attrs().Flags&net.FlagLoopback == 0 {
			out = append(out, l)
		}
	}
	return out, nil
}

func hasGlobalV4(l netlink.Link) bool {
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if a.IP.IsGlobalUnicast() {
			return true
		}
	}
	return false
}

// upLink waits for the NIC (its driver may still be probing) and sets it up.
func upLink(ctx context.Context, name string) (netlink.Link, error) {
	for {
		l, err := netlink.LinkByName(name)
		if err == nil {
			if err := netlink.LinkSetUp(l); err != nil {
				return nil, fmt.Errorf("set %s up: %w", name, err)
			}
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("management interface %s: %w", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func staticAddr(link netlink.Link, cidr, gw string) error {
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := netlink.AddrReplace(link, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", cidr, link.Attrs().Name, err)
	}
	if gw != "" {
		g, err := netip.ParseAddr(gw)
		if err != nil {
			return err
		}
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: g.AsSlice()}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}
