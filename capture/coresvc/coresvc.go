// Package coresvc runs the capture core as the supervised service "core":
// it owns the buffer pool and the configured ports, serves GET /v1/ports
// and exports the same counters as Prometheus metrics. Other services get
// the core through Core once this service is running (declare a dependency
// on "core").
package coresvc

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/tap"
)

// Name is the service name.
const Name = "core"

// Service is the capture core service.
type Service struct {
	ports []config.PortConfig
	pool  *tap.Pool

	mu   sync.Mutex
	core *capture.Core
	auto *AutoOptions // nil: the configured ports only
}

// New creates the pool. The pool lives as long as the Service (across
// restarts of Run, so frames a consumer still holds stay valid); Close
// releases it when the daemon ends.
func New(pool config.PoolConfig, ports []config.PortConfig) (*Service, error) {
	p, err := tap.NewPool(tap.Config{Frames: pool.Frames, FrameSize: pool.FrameSize})
	if err != nil {
		return nil, err
	}
	return &Service{ports: ports, pool: p}, nil
}

// Name implements services.Service.
func (s *Service) Name() string { return Name }

// Core is the core, or nil before the service first ran. The same Core
// stays across restarts of the service (a stable handle): a restart stops
// and starts the port engines, and consumers keep their subscriptions.
func (s *Service) Core() *capture.Core {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core
}

// Run opens every port (the first time) or starts their engines again,
// serves until ctx is done, then stops the engines. The ports and every
// consumer's subscriptions stay until Close.
func (s *Service) Run(ctx context.Context, rt *services.Runtime) error {
	s.mu.Lock()
	c, auto := s.core, s.auto
	s.mu.Unlock()
	if c == nil {
		var err error
		if c, err = s.open(rt); err != nil {
			return err
		}
	} else {
		c.Resume()
	}
	rt.Ready()
	if auto != nil {
		// Ports found at run time; the ports stay open across restarts
		// like configured ones, the watcher restarts with the service.
		s.watchLinks(ctx, c, auto, rt)
	}
	<-ctx.Done()
	c.Suspend()
	return nil
}

func (s *Service) open(rt *services.Runtime) (*capture.Core, error) {
	c := capture.NewCore(s.pool, rt.Log)
	for _, pc := range s.ports {
		_, err := c.OpenPort(capture.PortConfig{
			Name:       pc.Name,
			Mode:       capture.Mode(pc.Mode),
			Queues:     pc.Queues,
			NetNS:      pc.NetnsPath(),
			Forward:    pc.Forward,
			RingBlocks: pc.RingBlocks,
			BlockSize:  pc.BlockSize,
			RingFrames: pc.RingFrames,
		})
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
	}
	s.mu.Lock()
	s.core = c
	s.mu.Unlock()
	return c, nil
}

// Close closes the ports and releases the pool. Call it after the
// supervisor has stopped.
func (s *Service) Close() error {
	s.mu.Lock()
	c := s.core
	s.core = nil
	s.mu.Unlock()
	var err error
	if c != nil {
		err = c.Close()
	}
	return errors.Join(err, s.pool.Close())
}

// Status is the GET /v1/ports body.
func (s *Service) Status() (api.Ports, error) {
	c := s.Core()
	if c == nil {
		return api.Ports{}, errors.New("the capture core is not running")
	}
	out := api.Ports{
		Pool:  api.PoolStatus{Frames: s.pool.Len(), FrameSize: s.pool.FrameSize(), Free: s.pool.FreeCount(), Pages: s.pool.Pages()},
		Ports: []api.PortStatus{},
	}
	for _, p := range c.Ports() {
		out.Ports = append(out.Ports, portStatus(p.Stats(), p.Info()))
	}
	out.Consumers = []api.ConsumerStatus{}
	for _, k := range c.Consumers() {
		out.Consumers = append(out.Consumers, api.ConsumerStatus{Name: k.Name, Owner: uint32(k.Owner), Held: k.Held, Reclaimed: k.Reclaimed})
	}
	return out, nil
}

func portStatus(st capture.PortStats, info capture.PortInfo) api.PortStatus {
	link := "down"
	if st.LinkUp {
		link = "up"
	}
	ps := api.PortStatus{
		Name: st.Name, Mode: string(st.Mode),
		RxPackets: st.RxPackets, RxBytes: st.RxBytes, TxPackets: st.TxPackets, TxBytes: st.TxBytes,
		TxErrors: st.TxErrors, RxDroppedKernel: st.RxDroppedKernel, RxDroppedPool: st.RxDroppedPool,
		Unclaimed: st.Unclaimed, TimestampSource: st.TimestampSource.String(), Link: link,
		IfIndex: info.IfIndex, MTU: info.MTU, SpeedMbps: info.SpeedMbps, Duplex: info.Duplex, OperState: info.OperState,
		Attached: st.Attached, EngineStarts: st.EngineStarts, Missed: st.Missed, TxKicks: st.TxKicks,
		Subscribers: []api.SubscriberStatus{},
	}
	if len(info.MAC) > 0 {
		ps.MAC = info.MAC.String()
	}
	if !info.LastChange.IsZero() {
		ps.LastChange = info.LastChange.UTC().Format(time.RFC3339Nano)
	}
	for _, sub := range st.Subscribers {
		ss := api.SubscriberStatus{Name: sub.Name, Kind: sub.Kind.String(), Delivered: sub.Delivered, Dropped: sub.Dropped}
		if sub.Kind == capture.Owner {
			ss.Hook, ss.Exclusive = sub.Hook.String(), sub.Exclusive
		}
		ps.Subscribers = append(ps.Subscribers, ss)
	}
	return ps
}

// Routes serves GET /v1/ports.
func (s *Service) Routes(mux *http.ServeMux) {
	api.HandleStatus(mux, api.RoutePorts, s.Status)
}

// Collectors exports the /v1/ports counters.
func (s *Service) Collectors() []prometheus.Collector { return []prometheus.Collector{collector{s}} }

type collector struct{ s *Service }

var (
	portLabels = []string{"port", "mode"}
	subLabels  = []string{"port", "subscriber", "kind"}
	descs      = struct {
		rxPackets, rxBytes, txPackets, txBytes, txErrors, dropKernel, dropPool, unclaimed, link *prometheus.Desc
		delivered, dropped, poolFrames, poolFree                                                *prometheus.Desc
	}{
		rxPackets:  prometheus.NewDesc("wirebox_port_rx_packets_total", "Frames received on the port.", portLabels, nil),
		rxBytes:    prometheus.NewDesc("wirebox_port_rx_bytes_total", "Bytes (wire length) received on the port.", portLabels, nil),
		txPackets:  prometheus.NewDesc("wirebox_port_tx_packets_total", "Frames transmitted on the port.", portLabels, nil),
		txBytes:    prometheus.NewDesc("wirebox_port_tx_bytes_total", "Bytes transmitted on the port.", portLabels, nil),
		txErrors:   prometheus.NewDesc("wirebox_port_tx_errors_total", "Frames the port failed to transmit.", portLabels, nil),
		dropKernel: prometheus.NewDesc("wirebox_port_rx_dropped_kernel_total", "Frames the kernel dropped before the engine saw them.", portLabels, nil),
		dropPool:   prometheus.NewDesc("wirebox_port_rx_dropped_pool_total", "Frames lost for want of a free pool frame.", portLabels, nil),
		unclaimed:  prometheus.NewDesc("wirebox_port_unclaimed_total", "Bypass frames no consumer took and no port forwarded.", portLabels, nil),
		link:       prometheus.NewDesc("wirebox_port_link_up", "1 when the port's link is up.", portLabels, nil),
		delivered:  prometheus.NewDesc("wirebox_port_subscriber_delivered_total", "Frames queued to a subscriber.", subLabels, nil),
		dropped:    prometheus.NewDesc("wirebox_port_subscriber_dropped_total", "Frames a subscriber lost because its queue was full.", subLabels, nil),
		poolFrames: prometheus.NewDesc("wirebox_pool_frames", "Frames in the buffer pool.", nil, nil),
		poolFree:   prometheus.NewDesc("wirebox_pool_frames_free", "Free frames in the buffer pool.", nil, nil),
	}
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descs.rxPackets, descs.rxBytes, descs.txPackets, descs.txBytes, descs.txErrors,
		descs.dropKernel, descs.dropPool, descs.unclaimed, descs.link, descs.delivered, descs.dropped, descs.poolFrames, descs.poolFree} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.s.Status()
	if err != nil {
		return // not running: no port metrics
	}
	ch <- prometheus.MustNewConstMetric(descs.poolFrames, prometheus.GaugeValue, float64(st.Pool.Frames))
	ch <- prometheus.MustNewConstMetric(descs.poolFree, prometheus.GaugeValue, float64(st.Pool.Free))
	for _, p := range st.Ports {
		lv := []string{p.Name, p.Mode}
		for _, m := range []struct {
			d *prometheus.Desc
			v uint64
		}{
			{descs.rxPackets, p.RxPackets}, {descs.rxBytes, p.RxBytes}, {descs.txPackets, p.TxPackets},
			{descs.txBytes, p.TxBytes}, {descs.txErrors, p.TxErrors}, {descs.dropKernel, p.RxDroppedKernel},
			{descs.dropPool, p.RxDroppedPool}, {descs.unclaimed, p.Unclaimed},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), lv...)
		}
		up := 0.0
		if p.Link == "up" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descs.link, prometheus.GaugeValue, up, lv...)
		for _, sub := range p.Subscribers {
			sv := []string{p.Name, sub.Name, sub.Kind}
			ch <- prometheus.MustNewConstMetric(descs.delivered, prometheus.CounterValue, float64(sub.Delivered), sv...)
			ch <- prometheus.MustNewConstMetric(descs.dropped, prometheus.CounterValue, float64(sub.Dropped), sv...)
		}
	}
}
