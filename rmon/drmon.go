package rmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// DefaultDiscoveryGroup is the dRMON discovery group agents join by default.
const DefaultDiscoveryGroup = "239.255.77.1:7160"

// DRMONConfig is `rmon.drmon`: the dRMON proxy. Nothing listens unless
// Listen is set.
type DRMONConfig struct {
	// Listen is the proxy's UDP address, e.g. ":7161".
	Listen string `yaml:"listen"`
	// KeyFile holds the pre-shared key (at least 16 bytes) agents share.
	KeyFile string `yaml:"key_file"`
	// DiscoveryGroup is the multicast address:port discovery requests go
	// to (empty: no discovery; agents are given the proxy's address).
	DiscoveryGroup string `yaml:"discovery_group,omitempty"`
	// DiscoveryInterface sends discovery out of this interface (default:
	// the route's).
	DiscoveryInterface string `yaml:"discovery_interface,omitempty"`
	// PollInterval (default 5s) and DiscoveryInterval (default 30s).
	PollInterval      string `yaml:"poll_interval,omitempty"`
	DiscoveryInterval string `yaml:"discovery_interval,omitempty"`
	// Views are the merged interfaces (default: one, "drmon", of every agent).
	Views []DRMONView `yaml:"views,omitempty"`
	// Upstream makes this a workgroup proxy: its first view is reported,
	// as one agent named UpstreamName (default: the host name and the
	// view), to the domain proxy at this address, over the same protocol
	// and key.
	Upstream     string `yaml:"upstream,omitempty"`
	UpstreamName string `yaml:"upstream_name,omitempty"`
	// TLSListen, if set, also accepts agents over TCP with TLS (mutual
	// certificates: TLSCertFile/TLSKeyFile are the proxy's, and agents'
	// certificates must chain to TLSCAFile; see DRMON-PROTOCOL.md).
	TLSListen   string `yaml:"tls_listen,omitempty"`
	TLSCertFile string `yaml:"tls_cert_file,omitempty"`
	TLSKeyFile  string `yaml:"tls_key_file,omitempty"`
	TLSCAFile   string `yaml:"tls_ca_file,omitempty"`
}

// DRMONView is one merged interface.
type DRMONView struct {
	Name string `yaml:"name"`
	// Agents by name; empty: every agent no other view lists.
	Agents []string `yaml:"agents,omitempty"`
	// Port is the appliance's own port in the view's broadcast domain: its
	// broadcast and multicast frames are counted into the view.
	Port string `yaml:"port,omitempty"`
}

// ReadKeyFile reads a pre-shared key (trailing newlines dropped).
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("drmon key: %w", err)
	}
	k := []byte(strings.TrimRight(string(b), "\r\n"))
	if len(k) < 16 {
		return nil, errors.New("drmon key: at least 16 bytes")
	}
	return k, nil
}

func durationOr(key, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 10*time.Millisecond {
		return 0, fmt.Errorf("rmon: drmon.%s: a duration of at least 10ms", key)
	}
	return d, nil
}

// proxyConfig validates the section and converts it.
func (c *DRMONConfig) proxyConfig() (drmon.ProxyConfig, error) {
	var out drmon.ProxyConfig
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return out, fmt.Errorf("rmon: drmon.listen %q: %w", c.Listen, err)
	}
	if c.KeyFile == "" {
		return out, errors.New("rmon: drmon.key_file is required: every message is authenticated")
	}
	key, err := ReadKeyFile(c.KeyFile)
	if err != nil {
		return out, fmt.Errorf("rmon: drmon.key_file: %w", err)
	}
	out.Key = key
	if c.DiscoveryGroup != "" {
		g, err := net.ResolveUDPAddr("udp4", c.DiscoveryGroup)
		if err != nil || !g.IP.IsMulticast() {
			return out, fmt.Errorf("rmon: drmon.discovery_group %q: a multicast address:port", c.DiscoveryGroup)
		}
		out.Group = g
	}
	if out.PollInterval, err = durationOr("poll_interval", c.PollInterval, 5*time.Second); err != nil {
		return out, err
	}
	if out.DiscoveryInterval, err = durationOr("discovery_interval", c.DiscoveryInterval, 30*time.Second); err != nil {
		return out, err
	}
	if c.Upstream != "" {
		if _, err := net.ResolveUDPAddr("udp4", c.Upstream); err != nil {
			return out, fmt.Errorf("rmon: drmon.upstream: %w", err)
		}
	}
	if c.TLSListen != "" {
		if _, _, err := net.SplitHostPort(c.TLSListen); err != nil {
			return out, fmt.Errorf("rmon: drmon.tls_listen %q: %w", c.TLSListen, err)
		}
		if c.TLSCertFile == "" || c.TLSKeyFile == "" || c.TLSCAFile == "" {
			return out, errors.New("rmon: drmon.tls_listen needs tls_cert_file, tls_key_file and tls_ca_file (agents' certificates are checked)")
		}
	}
	names := map[string]bool{}
	for i, v := range c.Views {
		if v.Name == "" || names[v.Name] {
			return out, fmt.Errorf("rmon: drmon.views[%d]: a unique name is required", i)
		}
		names[v.Name] = true
		out.Views = append(out.Views, drmon.ViewConfig{Name: v.Name, Agents: v.Agents, Port: v.Port})
	}
	return out, nil
}

// The experimental response-time subtree, under a placeholder enterprise
// number (wirebox has no IANA Private Enterprise Number yet; see
// docs/DRMON-PROTOCOL.md): 1.3.6.1.4.1.99999.1.1.1 = drmonRespEntry.
var drmonRespEntry = mib.MustOID("1.3.6.1.4.1.99999.1.1.1")

// respIndex is a row's index: server address (length, octets), server
// port, client address (length, octets), observer.
func respIndex(k drmon.RespKey) mib.OID {
	var o mib.OID
	add := func(b []byte) {
		o = append(o, uint32(len(b)))
		for _, x := range b {
			o = append(o, uint32(x))
		}
	}
	add(k.Server.Addr().AsSlice())
	o = append(o, uint32(k.Server.Port()))
	add(k.Client.AsSlice())
	return append(o, uint32(k.Observer))
}

func micros(v uint64) uint64 { return v / 10 }

func avg(sum, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return sum / n
}

// registerDRMON serves the proxy's response-time table.
func registerDRMON(tree *mib.Tree, px *drmon.Proxy) {
	rows := func() map[string]drmon.RespRow {
		m := map[string]drmon.RespRow{}
		for _, r := range px.Responses() {
			m[respIndex(r.Key).String()] = r
		}
		return m
	}
	tree.Register(drmonRespEntry, &mib.Table{
		Cols: seq(1, 13),
		Index: func() []mib.OID {
			var out []mib.OID
			for _, r := range px.Responses() {
				out = append(out, respIndex(r.Key))
			}
			slices.SortFunc(out, mib.OID.Compare)
			return out
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			r, ok := rows()[index.String()]
			if !ok {
				return mib.Value{}, false
			}
			switch col {
			case 1:
				return mib.OctetString(r.Key.Server.Addr().AsSlice()), true
			case 2:
				return mib.Gauge32(uint64(r.Key.Server.Port())), true
			case 3:
				return mib.OctetString(r.Key.Client.AsSlice()), true
			case 4:
				return mib.Integer(int64(r.Key.Observer)), true
			case 5:
				return mib.String(r.Agent), true
			case 6:
				return mib.Counter32(r.SetupCount), true
			case 7:
				return mib.Gauge32(micros(avg(r.SetupSum, r.SetupCount))), true
			case 8:
				return mib.Gauge32(micros(r.SetupMin)), true
			case 9:
				return mib.Gauge32(micros(r.SetupMax)), true
			case 10:
				return mib.Counter32(r.RespCount), true
			case 11:
				return mib.Gauge32(micros(avg(r.RespSum, r.RespCount))), true
			case 12:
				return mib.Gauge32(micros(r.RespMin)), true
			case 13:
				return mib.Gauge32(micros(r.RespMax)), true
			}
			return mib.Value{}, false
		},
	})
}

// drmonSink puts what the agents' channels found into the probe's channel
// and capture tables: the channels managers made on a view's interface
// are pushed to the view's agents, which apply them to their own frames
// (docs/DRMON-PROTOCOL.md, Config and Capture).
type drmonSink struct {
	p  *probe
	px *drmon.Proxy
}

// viewPort is the probe's port of the proxy's view (p.mu held; nil if
// none): the probe keeps a view's port, and its ifIndex, for its life.
func (s drmonSink) viewPort(view int) *port {
	vs := s.px.Views()
	if view < 0 || view >= len(vs) {
		return nil
	}
	return s.p.byKey["drmon:"+vs[view].Name]
}

// channelOf is a valid channel row on the view's interface (p.mu held).
func (s drmonSink) channelOf(view int, idx uint16) *ctlRow {
	pt := s.viewPort(view)
	if pt == nil {
		return nil
	}
	ch := s.p.channels.rows[int32(idx)]
	if ch == nil || ch.status != statusValid || int(ch.num(2)) != pt.ifIndex {
		return nil
	}
	return ch
}

func (s drmonSink) Matched(view int, counts []drmon.ChannelCount) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range counts {
		ch := s.channelOf(view, c.Channel)
		if ch == nil {
			continue
		}
		ch.rt.(*chanRT).matches += c.Count
		// One event per report: the agents' frames arrive in batches.
		if ev := ch.num(7); ev != 0 && ch.num(8) != 2 {
			if ch.num(8) == 1 {
				ch.vals[8] = mib.Integer(2)
			}
			p.fireChannelEvent(int32(ev), ch)
		}
	}
}

func (s drmonSink) Captured(view int, pkts []drmon.Captured) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range pkts {
		if ch := s.channelOf(view, k.Channel); ch != nil && ch.num(4) == 1 {
			p.capture(ch, seen{data: k.Data, wireLen: k.WireLen, ts: k.Time}, pktStatus(k.WireLen))
		}
	}
}

func (s drmonSink) Buckets(view int, bs []drmon.Bucket) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range bs {
		r := p.history.rows[int32(b.History)]
		pt := s.viewPort(view)
		if r == nil || r.status != statusValid || pt == nil {
			continue
		}
		if h := r.rt.(*histRT); h.view != nil && h.pt == pt {
			h.view.add(b.Sample, &b.C)
		}
	}
}

// viewHist is a history row of a dRMON view: the agents count their frames
// into its buckets by time (translated to the proxy's clock) and report
// them once closed; the proxy adds its own part (the view's broadcast and
// multicast) sampled at the bucket's end, and closes the bucket once the
// agents had time to report it.
type viewHist struct {
	view   *drmon.View
	start  time.Time // when bucket 1 began
	shared stats.Ether
	agents map[uint32]*stats.PairCounts // by sample
	open   []openBucket
}

// openBucket is an interval that ended and waits for the agents' reports.
type openBucket struct {
	b       bucket
	closeAt time.Time
}

func newViewHist(pt *port, now time.Time) *viewHist {
	v := pt.core().view
	return &viewHist{view: v, start: now, shared: v.SharedEther(), agents: map[uint32]*stats.PairCounts{}}
}

func (v *viewHist) add(sample uint32, c *stats.PairCounts) {
	if v.agents[sample] == nil {
		if len(v.agents) >= maxBuckets {
			return
		}
		v.agents[sample] = &stats.PairCounts{}
	}
	v.agents[sample].Add(c)
}

// sampleViewHistory ends a view row's interval on time (its own broadcast
// and multicast part) and closes it into a bucket when the agents had
// time to report theirs (p.mu held).
func (p *probe) sampleViewHistory(r *ctlRow, h *histRT, now time.Time) {
	interval := time.Duration(r.num(5)) * time.Second
	if h.view == nil {
		// Made at the row's first sample (within a second of its
		// activation): bucket 1 began an interval before its end.
		h.view = newViewHist(h.pt, h.next.Add(-interval))
	}
	v := h.view
	if !now.Before(h.next) {
		e := v.view.SharedEther()
		h.sample++
		v.open = append(v.open, openBucket{b: bucket{sample: h.sample, start: h.start, e: subEther(e, v.shared)}, closeAt: h.next.Add(p.drmonDelay)})
		v.shared, h.start = e, p.uptime()
		h.next = h.next.Add(interval)
		if h.next.Before(now) {
			h.next = now.Add(interval)
		}
	}
	for len(v.open) > 0 && !now.Before(v.open[0].closeAt) {
		b := v.open[0].b
		v.open = v.open[1:]
		if c := v.agents[uint32(b.sample)]; c != nil {
			b.e.AddCounts(c)
			delete(v.agents, uint32(b.sample))
		}
		h.buckets = append(h.buckets, b)
		p.gen++
		if granted := int(min(r.num(3), maxBuckets)); len(h.buckets) > granted {
			h.buckets = h.buckets[len(h.buckets)-granted:]
		}
	}
}

// viewChannels are the channels managers made on a view's interface, as
// its agents apply them (p.mu held).
func (p *probe) viewChannels(pt *port) []drmon.Channel {
	var out []drmon.Channel
	for _, ch := range p.channels.valid() {
		if int(ch.num(2)) != pt.ifIndex {
			continue
		}
		c := drmon.Channel{Index: uint16(ch.index), Accept: uint8(ch.num(3))}
		for _, b := range p.buffers.valid() {
			if b.num(2) != int64(ch.index) || ch.num(4) != 1 {
				continue
			}
			// The largest slice any of its buffers keeps (0: whole frames).
			if !c.Capture || b.num(5) == 0 || (c.Slice != 0 && uint32(b.num(5)) > c.Slice) {
				c.Slice = uint32(b.num(5))
			}
			c.Capture = true
		}
		for _, f := range p.filters.valid() {
			if f.num(2) == int64(ch.index) {
				c.Filters = append(c.Filters, rowFilter(f))
			}
		}
		out = append(out, c)
	}
	return out
}

// viewHistories are the history rows on a view's interface, as its agents
// keep them (p.mu held): bucket 1 began at the row's activation.
func (p *probe) viewHistories(pt *port, px *drmon.Proxy) []drmon.History {
	var out []drmon.History
	for _, r := range p.history.valid() {
		if h := r.rt.(*histRT); h.view != nil && h.pt == pt {
			out = append(out, drmon.History{Index: uint16(r.index), Interval: uint64(r.num(5)) * uint64(time.Second/100), Start: px.UptimeAt(h.view.start)})
		}
	}
	return out
}

// pushChannels hands the views' channels and history rows to the proxy
// five times a second until ctx ends (rows change by SET, and dataControl
// by channel events); the proxy pushes only what differs.
func (p *probe) pushChannels(ctx context.Context, px *drmon.Proxy) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	sink := drmonSink{p: p, px: px}
	n := len(px.Views())
	for {
		p.mu.Lock()
		chans := make([][]drmon.Channel, n)
		hists := make([][]drmon.History, n)
		for i := range n {
			if pt := sink.viewPort(i); pt != nil {
				chans[i], hists[i] = p.viewChannels(pt), p.viewHistories(pt, px)
			}
		}
		p.mu.Unlock()
		for i := range n {
			px.SetConfig(i, chans[i], hists[i])
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startProxyTLS accepts agents over TLS (drmon.tls_listen) until ctx ends.
func startProxyTLS(ctx context.Context, wg *sync.WaitGroup, log *slog.Logger, px *drmon.Proxy, d *DRMONConfig) error {
	cfg, err := drmon.TLSConfig(true, d.TLSCertFile, d.TLSKeyFile, d.TLSCAFile, "")
	if err != nil {
		return fmt.Errorf("rmon: drmon tls: %w", err)
	}
	l, err := net.Listen("tcp", d.TLSListen)
	if err != nil {
		return fmt.Errorf("rmon: drmon tls_listen %s: %w", d.TLSListen, err)
	}
	sc, err := drmon.ListenTLS(l, cfg, log)
	if err != nil {
		l.Close()
		return err
	}
	log.Info("drmon proxy listening for agents over TLS", "addr", l.Addr().String())
	goServe(wg, log, "drmon proxy tls", func() error { return px.ServeTLS(ctx, sc) })
	return nil
}
