// Package hasvc is the supervised "ha" service: the forwarder and the
// pair (ha/node) on the core's ports, GET /v1/ha, POST /v1/ha/failover
// and the wirebox_ha_* metrics.
package hasvc

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/ha/node"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/services"
)

// Name is the service's (and the section's) name.
const Name = "ha"

// Service runs one node.
type Service struct {
	core func() *capture.Core
	cfg  node.Config

	mu   sync.Mutex
	node *node.Node
}

// New returns the service for cfg on the core core() gives.
func New(core func() *capture.Core, cfg node.Config) *Service {
	return &Service{core: core, cfg: cfg}
}

// Name implements services.Service.
func (s *Service) Name() string { return Name }

// Deps: the core's ports first.
func (s *Service) Deps() []string { return []string{"core"} }

// Run serves until ctx ends.
func (s *Service) Run(ctx context.Context, rt *services.Runtime) error {
	core := s.core()
	if core == nil {
		return errors.New("capture core not running")
	}
	n, err := node.New(core, s.cfg, rt.Log)
	if err != nil {
		return err
	}
	rt.OnExit(n.Close) // also after a panic: the frames it held go back to the pool
	s.mu.Lock()
	s.node = n
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.node = nil
		s.mu.Unlock()
	}()
	return n.Run(ctx, rt.Ready)
}

func (s *Service) running() *node.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node
}

var errNotRunning = errors.New("the ha service is not running")

// Routes implements services.RouteProvider.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc(api.RouteHA, func(w http.ResponseWriter, r *http.Request) {
		n := s.running()
		if n == nil {
			api.WriteError(w, http.StatusServiceUnavailable, errNotRunning)
			return
		}
		api.WriteJSON(w, http.StatusOK, s.status(n))
	})
	mux.HandleFunc(api.RouteHAFailover, func(w http.ResponseWriter, r *http.Request) {
		n := s.running()
		if n == nil {
			api.WriteError(w, http.StatusServiceUnavailable, errNotRunning)
			return
		}
		if err := n.Failover(); err != nil {
			api.WriteError(w, http.StatusConflict, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, s.status(n))
	})
}

func (s *Service) status(n *node.Node) api.HAStatus {
	st := n.Status()
	out := api.HAStatus{Role: st.Role, PeerRole: st.PeerRole, Mode: string(st.Mode), Peer: st.Peer, PeerAlive: st.PeerAlive,
		InSync: st.InSync, AddressOwner: st.AddressOwner, LinkRTTNS: int64(st.RTT), Priority: st.Priority,
		VIP: s.cfg.Service.VIP.String(), Connections: st.Conns,
		Counters: api.HACounters{ConnsCreated: st.Table.Created, ConnsExpired: st.Table.Expired, Forwarded: st.Table.Forwarded,
			Dropped: st.Table.Dropped, Transmitted: st.Transmitted, NoNeighbour: st.NoNeighbour, MirrorSent: st.MirrorSent,
			MirrorReceived: st.MirrorReceived, ForwardedByPeer: st.ForwardedByPeer, Syncs: st.Syncs,
			SyncEntriesSent: st.SyncEntriesSent, SyncEntriesRecv: st.SyncEntriesRecv, Splits: st.SplitsSeen, GratuitousARP: st.GratuitousARP},
		Link:    api.HALinkCounts(st.Link),
		Witness: api.HALinkCounts(st.WitnessLink),
	}
	if f := st.LastFailover; f != nil {
		out.LastFailover = &api.HAFailover{At: f.At.UTC().Format(time.RFC3339Nano), Reason: f.Reason, DurationNS: int64(f.Duration)}
	}
	return out
}

// Collectors implements services.CollectorProvider.
func (s *Service) Collectors() []prometheus.Collector { return []prometheus.Collector{collector{s}} }

type collector struct{ s *Service }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("wirebox_ha_"+name, help, labels, nil)
}

var (
	dRole        = desc("role", "1 for the node's current role.", "role")
	dPeerAlive   = desc("peer_alive", "1 while the peer's heartbeats arrive.")
	dInSync      = desc("in_sync", "1 when the standby holds the active's complete state.")
	dOwner       = desc("address_owner", "1 while this node answers for the VIP and gateway.")
	dRTT         = desc("link_rtt_seconds", "Round-trip time of the peer link's heartbeats.")
	dConns       = desc("connections", "Tracked connections.")
	dFailoverDur = desc("last_failover_seconds", "Duration of the last failover this node saw.")
	dCounter     = desc("events_total", "Forwarder and pair events.", "event")
	dLink        = desc("link_messages_total", "Peer link messages by outcome.", "link", "outcome")
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dRole, dPeerAlive, dInSync, dOwner, dRTT, dConns, dFailoverDur, dCounter, dLink} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	n := c.s.running()
	if n == nil {
		return
	}
	st := c.s.status(n)
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	k := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	for _, r := range []string{"init", "standby", "active"} {
		g(dRole, b2f(st.Role == r), r)
	}
	g(dPeerAlive, b2f(st.PeerAlive))
	g(dInSync, b2f(st.InSync))
	g(dOwner, b2f(st.AddressOwner))
	g(dRTT, float64(st.LinkRTTNS)/1e9)
	g(dConns, float64(st.Connections))
	if st.LastFailover != nil {
		g(dFailoverDur, float64(st.LastFailover.DurationNS)/1e9)
	}
	ct := st.Counters
	for name, v := range map[string]uint64{"conns_created": ct.ConnsCreated, "conns_expired": ct.ConnsExpired, "forwarded": ct.Forwarded,
		"dropped": ct.Dropped, "transmitted": ct.Transmitted, "no_neighbour": ct.NoNeighbour, "mirror_sent": ct.MirrorSent,
		"mirror_received": ct.MirrorReceived, "forwarded_by_peer": ct.ForwardedByPeer, "syncs": ct.Syncs,
		"sync_entries_sent": ct.SyncEntriesSent, "sync_entries_received": ct.SyncEntriesRecv, "splits": ct.Splits,
		"gratuitous_arp": ct.GratuitousARP} {
		k(dCounter, v, name)
	}
	for link, l := range map[string]api.HALinkCounts{"peer": st.Link, "witness": st.Witness} {
		for outcome, v := range map[string]uint64{"sent": l.Sent, "send_error": l.SendErrors, "received": l.Received,
			"forged": l.Forged, "replayed": l.Replayed, "malformed": l.Malformed, "stranger": l.Stranger} {
			k(dLink, v, link, outcome)
		}
	}
}
