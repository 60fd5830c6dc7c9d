package mirror

import (
	"cmp"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/mirror/proto"
)

// Routes serves the mirror's part of the control API.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc(api.RouteMirrorSessions, func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, s.Sessions())
	})
	mux.HandleFunc(api.RouteMirrorPorts, func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, s.Ports())
	})
	for _, op := range []struct {
		route string
		fn    func(string) error
	}{{api.RouteMirrorRegister, s.Register}, {api.RouteMirrorUnregister, s.Unregister}} {
		mux.HandleFunc(op.route, func(w http.ResponseWriter, r *http.Request) {
			if err := op.fn(r.PathValue("name")); err != nil {
				code := http.StatusBadRequest
				if errors.Is(err, api.ErrNotFound) {
					code = http.StatusNotFound
				}
				api.WriteError(w, code, err)
				return
			}
			api.WriteJSON(w, http.StatusOK, s.Ports())
		})
	}
}

// Sessions lists every client's channels (and connected clients that hold
// none).
func (s *Service) Sessions() []api.MirrorSession {
	s.mu.Lock()
	sessions := slices.Collect(maps.Values(s.sessions))
	s.mu.Unlock()
	slices.SortFunc(sessions, func(a, b *session) int { return cmp.Compare(a.id, b.id) })
	out := []api.MirrorSession{}
	for _, se := range sessions {
		base := api.MirrorSession{ID: se.id, Client: se.remote, Identity: se.identity, Since: se.started,
			RTTMicros: float64(se.rttNs.Load()) / 1e3}
		se.mu.Lock()
		chans := slices.Collect(maps.Values(se.chans))
		se.mu.Unlock()
		slices.SortFunc(chans, func(a, b *channel) int { return cmp.Compare(a.id, b.id) })
		if len(chans) == 0 {
			out = append(out, base)
		}
		for _, ch := range chans {
			ms := base
			c := ch.counters()
			ms.Port, ms.Mode, ms.Since = ch.port, "exclusive", ch.since
			if !ch.exclusive {
				ms.Mode = "monitor"
			}
			ms.FramesToClient, ms.BytesToClient = c.FramesToClient, c.BytesToClient
			ms.FramesFromClient, ms.BytesFromClient = c.FramesFromClient, c.BytesFromClient
			ms.DroppedToClient, ms.DroppedFromClient = c.DroppedToClient, c.DroppedFromClient
			out = append(out, ms)
		}
	}
	return out
}

// Ports lists the core's ports as the mirror sees them.
func (s *Service) Ports() []api.MirrorPort {
	out := []api.MirrorPort{}
	for _, p := range s.ports() {
		out = append(out, WirePort(p))
	}
	return out
}

// WirePort is a port's description as the API shows it: the server's
// ports (GET /v1/mirror/ports) and, on the client, those a server lists.
func WirePort(p PortInfo) api.MirrorPort {
	link, mac := "down", ""
	if p.LinkUp {
		link = "up"
	}
	if p.MAC != nil {
		mac = p.MAC.String()
	}
	return api.MirrorPort{Name: p.Name, Registered: p.Registered, Link: link, SpeedMbps: p.SpeedMbps,
		Duplex: proto.DuplexString(p.Duplex), MTU: int(p.MTU), MAC: mac, Holder: p.Holder, Monitors: int(p.Monitors)}
}

// Collectors exports the sessions' counters as Prometheus metrics.
func (s *Service) Collectors() []prometheus.Collector { return []prometheus.Collector{collector{s}} }

type collector struct{ s *Service }

var mdesc = struct {
	sessions, channels, frames, bytes, dropped, rtt *prometheus.Desc
}{
	sessions: prometheus.NewDesc("wirebox_mirror_sessions", "Connected mirror clients.", nil, nil),
	channels: prometheus.NewDesc("wirebox_mirror_channels", "Ports lent to mirror clients.", []string{"port", "mode"}, nil),
	frames: prometheus.NewDesc("wirebox_mirror_frames_total",
		"Frames mirrored: to_client (the port's frames sent through the tunnel) and from_client (sent on the port).", []string{"port", "direction"}, nil),
	bytes: prometheus.NewDesc("wirebox_mirror_bytes_total", "Bytes of the mirrored frames.", []string{"port", "direction"}, nil),
	dropped: prometheus.NewDesc("wirebox_mirror_dropped_total",
		"Frames lost: to_client (queue to the tunnel full), from_client (could not be sent on the port).", []string{"port", "direction"}, nil),
	rtt: prometheus.NewDesc("wirebox_mirror_rtt_seconds", "Last measured tunnel round trip of a client.", []string{"session", "client"}, nil),
}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mdesc.sessions, mdesc.channels, mdesc.frames, mdesc.bytes, mdesc.dropped, mdesc.rtt} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	type live struct {
		port      string
		exclusive bool
		dropTo    uint64
	}
	s.mu.Lock()
	nsess := len(s.sessions)
	type rtt struct {
		id, client string
		v          float64
	}
	var rtts []rtt
	var lives []live
	for _, se := range s.sessions {
		if r := se.rttNs.Load(); r > 0 {
			rtts = append(rtts, rtt{strconv.FormatUint(se.id, 10), se.remote, float64(r) / 1e9})
		}
	}
	for port, h := range s.holders {
		lives = append(lives, live{port, true, h.dropTo()})
	}
	for port, m := range s.monitors {
		for mc := range m {
			lives = append(lives, live{port, false, mc.dropTo()})
		}
	}
	totals := make(map[string]*portTotals, len(s.totals))
	for k, v := range s.totals {
		totals[k] = v
	}
	s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(mdesc.sessions, prometheus.GaugeValue, float64(nsess))
	counts := map[[2]string]int{}
	liveDrop := map[string]uint64{}
	for _, l := range lives {
		mode := "monitor"
		if l.exclusive {
			mode = "exclusive"
		}
		counts[[2]string{l.port, mode}]++
		liveDrop[l.port] += l.dropTo
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(mdesc.channels, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	for port, t := range totals {
		for _, m := range []struct {
			d   *prometheus.Desc
			dir string
			v   uint64
		}{
			{mdesc.frames, "to_client", t.framesTo.Load()}, {mdesc.frames, "from_client", t.framesFrom.Load()},
			{mdesc.bytes, "to_client", t.bytesTo.Load()}, {mdesc.bytes, "from_client", t.bytesFrom.Load()},
			{mdesc.dropped, "to_client", t.dropTo.Load() + liveDrop[port]}, {mdesc.dropped, "from_client", t.dropFrom.Load()},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), port, m.dir)
		}
	}
	for _, r := range rtts {
		ch <- prometheus.MustNewConstMetric(mdesc.rtt, prometheus.GaugeValue, r.v, r.id, r.client)
	}
}
