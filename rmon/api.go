package rmon

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/rmon/stats"
)

// Summary is the GET /v1/rmon body.
type Summary struct {
	Listen   string        `json:"listen"`
	EngineID string        `json:"engine_id"`
	Ports    []PortSummary `json:"ports"`
	Alarms   []AlarmStatus `json:"alarms"`
	Logs     int           `json:"event_logs"`
	SNMP     SNMPCounters  `json:"snmp"`
	DRMON    *DRMONSummary `json:"drmon,omitempty"`
}

// DRMONSummary is the dRMON proxy: its agents, their last report, the
// response-time rows and the messages it dropped.
type DRMONSummary struct {
	Agents        []drmon.AgentStatus `json:"agents"`
	Responses     []ResponseRow       `json:"responses"`
	BadAuth       uint64              `json:"dropped_bad_auth"`
	Replayed      uint64              `json:"dropped_replayed"`
	Malformed     uint64              `json:"dropped_malformed"`
	OutOfSequence uint64              `json:"dropped_out_of_sequence"`
	Applied       uint64              `json:"reports_applied"`
	// Captured frames the agents sent back, and those dropped as captured
	// under a configuration since replaced.
	Captured     uint64 `json:"captured"`
	CaptureStale uint64 `json:"capture_stale"`
}

// ResponseRow is one response-time row, times in microseconds.
type ResponseRow struct {
	Server        string  `json:"server"`
	Client        string  `json:"client"`
	Observer      string  `json:"observer"`
	Agent         string  `json:"agent"`
	Setups        uint64  `json:"setups"`
	SetupAvgUs    float64 `json:"setup_avg_us"`
	Responses     uint64  `json:"responses"`
	ResponseAvgUs float64 `json:"response_avg_us"`
	ResponseMaxUs float64 `json:"response_max_us"`
}

func drmonSummary(px *drmon.Proxy) *DRMONSummary {
	if px == nil {
		return nil
	}
	d := &DRMONSummary{Agents: px.Agents(), Responses: []ResponseRow{}, BadAuth: px.BadAuth.Load(), Replayed: px.Replayed.Load(),
		Malformed: px.Malformed.Load(), OutOfSequence: px.OutOfSequence.Load(), Applied: px.Applied.Load(),
		Captured: px.Captured.Load(), CaptureStale: px.CaptureStale.Load()}
	for _, r := range px.Responses() {
		obs := "client"
		if r.Key.Observer == drmon.ObserverServer {
			obs = "server"
		}
		d.Responses = append(d.Responses, ResponseRow{Server: r.Key.Server.String(), Client: r.Key.Client.String(), Observer: obs, Agent: r.Agent,
			Setups: r.SetupCount, SetupAvgUs: float64(avg(r.SetupSum, r.SetupCount)) / 10,
			Responses: r.RespCount, ResponseAvgUs: float64(avg(r.RespSum, r.RespCount)) / 10, ResponseMaxUs: float64(r.RespMax) / 10})
	}
	return d
}

// PortSummary is one port's etherStats and its busiest hosts.
type PortSummary struct {
	Name    string      `json:"name"`
	IfIndex int         `json:"if_index"`
	Ether   stats.Ether `json:"ether_stats"`
	// ErrorCounters is where CRCAlign, Fragments and Jabbers come from:
	// "nic" (the driver's ethtool rmon/eth-mac stats) or "core" (0: such
	// frames never reach the core).
	ErrorCounters string     `json:"error_counters"`
	Hosts         int        `json:"hosts"`
	Pairs         int        `json:"pairs"`
	TopHost       []HostRate `json:"top_hosts"`
}

// HostRate is a host and its counts (the console computes rates).
type HostRate struct {
	MAC       string `json:"mac"`
	OutPkts   uint64 `json:"out_pkts"`
	OutOctets uint64 `json:"out_octets"`
	InPkts    uint64 `json:"in_pkts"`
}

// AlarmStatus is one valid alarm row.
type AlarmStatus struct {
	Index    int32  `json:"index"`
	Variable string `json:"variable"`
	Value    int64  `json:"value"`
	Rising   int64  `json:"rising_threshold"`
	Falling  int64  `json:"falling_threshold"`
	Owner    string `json:"owner"`
}

// SNMPCounters are the agent's own counters.
type SNMPCounters struct {
	InPkts, OutPkts, BadCommunityNames, ParseErrors  uint64
	UnknownEngineIDs, UnknownUserNames, WrongDigests uint64
	NotInTimeWindows, DecryptionErrors               uint64
	UnsupportedSecLevels                             uint64
}

// Status builds the summary; an error when the service is not running.
func (s *Service) Status() (Summary, error) {
	r := s.running()
	if r == nil {
		return Summary{}, errors.New("rmon is not running")
	}
	a := r.agent
	out := Summary{Listen: r.addr.String(), EngineID: fmt.Sprintf("%x", a.EngineID()), Ports: []PortSummary{}, Alarms: []AlarmStatus{},
		SNMP: SNMPCounters{InPkts: a.InPkts.Load(), OutPkts: a.OutPkts.Load(), BadCommunityNames: a.InBadCommunityNames.Load(),
			ParseErrors: a.InASNParseErrs.Load(), UnsupportedSecLevels: a.USMStat(1), NotInTimeWindows: a.USMStat(2),
			UnknownUserNames: a.USMStat(3), UnknownEngineIDs: a.USMStat(4), WrongDigests: a.USMStat(5), DecryptionErrors: a.USMStat(6)}}
	p := r.probe
	for _, pt := range p.portList() {
		sn := pt.st.Snapshot()
		ps := PortSummary{Name: pt.core().Name(), IfIndex: pt.ifIndex, Ether: pt.ether(), ErrorCounters: pt.errorSource(),
			Hosts: len(sn.Hosts), Pairs: len(sn.Pairs), TopHost: []HostRate{}}
		hs := sn.Hosts
		slices.SortFunc(hs, func(a, b stats.Host) int { return cmp.Compare(b.OutOctets, a.OutOctets) })
		for _, h := range hs[:min(len(hs), 10)] {
			ps.TopHost = append(ps.TopHost, HostRate{MAC: fmt.Sprintf("%x:%x:%x:%x:%x:%x", h.MAC[0], h.MAC[1], h.MAC[2], h.MAC[3], h.MAC[4], h.MAC[5]),
				OutPkts: h.OutPkts, OutOctets: h.OutOctets, InPkts: h.InPkts})
		}
		out.Ports = append(out.Ports, ps)
	}
	p.mu.Lock()
	for _, row := range p.alarms.valid() {
		out.Alarms = append(out.Alarms, AlarmStatus{Index: row.index, Variable: row.vals[3].OID.String(),
			Value: row.rt.(*alarmState).value, Rising: row.num(7), Falling: row.num(8), Owner: row.str(11)})
	}
	for _, l := range p.logs {
		out.Logs += len(l.items)
	}
	p.mu.Unlock()
	s.mu.Lock()
	px := s.px
	s.mu.Unlock()
	out.DRMON = drmonSummary(px)
	return out, nil
}

// Routes serves GET /v1/rmon.
func (s *Service) Routes(mux *http.ServeMux) {
	api.HandleStatus(mux, api.RouteRMON, s.Status)
}

// Collectors exports etherStats and the agent's counters as metrics.
func (s *Service) Collectors() []prometheus.Collector { return []prometheus.Collector{collector{s}} }

type collector struct{ s *Service }

var (
	etherDesc = map[string]*prometheus.Desc{}
	etherCols = []struct {
		name, help string
		get        func(*stats.Ether) uint64
	}{
		{"packets", "Frames seen (RMON etherStatsPkts).", func(e *stats.Ether) uint64 { return e.Pkts }},
		{"octets", "Octets seen including FCS (etherStatsOctets).", func(e *stats.Ether) uint64 { return e.Octets }},
		{"broadcast", "Good broadcast frames.", func(e *stats.Ether) uint64 { return e.Broadcast }},
		{"multicast", "Good multicast frames.", func(e *stats.Ether) uint64 { return e.Multicast }},
		{"undersize", "Frames under 64 octets.", func(e *stats.Ether) uint64 { return e.Undersize }},
		{"oversize", "Frames over 1518 octets.", func(e *stats.Ether) uint64 { return e.Oversize }},
		{"drop_events", "Frames the probe missed (etherStatsDropEvents).", func(e *stats.Ether) uint64 { return e.DropEvents }},
	}
	snmpDesc = prometheus.NewDesc("wirebox_rmon_snmp_total", "SNMP agent counters.", []string{"counter"}, nil)
	hostDesc = prometheus.NewDesc("wirebox_rmon_hosts", "Hosts learned on the port.", []string{"port"}, nil)
)

func init() {
	for _, c := range etherCols {
		etherDesc[c.name] = prometheus.NewDesc("wirebox_rmon_ether_"+c.name+"_total", c.help, []string{"port"}, nil)
	}
}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range etherDesc {
		ch <- d
	}
	ch <- snmpDesc
	ch <- hostDesc
	ch <- respCountDesc
	ch <- respSumDesc
	ch <- drmonDropDesc
	ch <- drmonAgentsDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.s.Status()
	if err != nil {
		return
	}
	for _, p := range st.Ports {
		for _, col := range etherCols {
			ch <- prometheus.MustNewConstMetric(etherDesc[col.name], prometheus.CounterValue, float64(col.get(&p.Ether)), p.Name)
		}
		ch <- prometheus.MustNewConstMetric(hostDesc, prometheus.GaugeValue, float64(p.Hosts), p.Name)
	}
	for name, v := range map[string]uint64{
		"in_pkts": st.SNMP.InPkts, "out_pkts": st.SNMP.OutPkts, "bad_community_names": st.SNMP.BadCommunityNames,
		"parse_errors": st.SNMP.ParseErrors, "usm_wrong_digests": st.SNMP.WrongDigests, "usm_not_in_time_windows": st.SNMP.NotInTimeWindows,
		"usm_unknown_user_names": st.SNMP.UnknownUserNames, "usm_unknown_engine_ids": st.SNMP.UnknownEngineIDs,
		"usm_decryption_errors": st.SNMP.DecryptionErrors, "usm_unsupported_sec_levels": st.SNMP.UnsupportedSecLevels,
	} {
		ch <- prometheus.MustNewConstMetric(snmpDesc, prometheus.CounterValue, float64(v), name)
	}
	if d := st.DRMON; d != nil {
		ch <- prometheus.MustNewConstMetric(drmonAgentsDesc, prometheus.GaugeValue, float64(len(d.Agents)))
		ch <- prometheus.MustNewConstMetric(drmonCapturedDesc, prometheus.CounterValue, float64(d.Captured))
		for name, v := range map[string]uint64{"bad_auth": d.BadAuth, "replayed": d.Replayed, "malformed": d.Malformed, "out_of_sequence": d.OutOfSequence,
			"capture_stale": d.CaptureStale} {
			ch <- prometheus.MustNewConstMetric(drmonDropDesc, prometheus.CounterValue, float64(v), name)
		}
		for _, r := range d.Responses {
			ch <- prometheus.MustNewConstMetric(respCountDesc, prometheus.CounterValue, float64(r.Setups), r.Server, r.Client, r.Observer, "setup")
			ch <- prometheus.MustNewConstMetric(respSumDesc, prometheus.CounterValue, r.SetupAvgUs*float64(r.Setups)/1e6, r.Server, r.Client, r.Observer, "setup")
			ch <- prometheus.MustNewConstMetric(respCountDesc, prometheus.CounterValue, float64(r.Responses), r.Server, r.Client, r.Observer, "response")
			ch <- prometheus.MustNewConstMetric(respSumDesc, prometheus.CounterValue, r.ResponseAvgUs*float64(r.Responses)/1e6, r.Server, r.Client, r.Observer, "response")
		}
	}
}

var (
	respLabels        = []string{"server", "client", "observer", "kind"}
	respCountDesc     = prometheus.NewDesc("wirebox_drmon_response_count_total", "TCP connection set-ups (kind=setup) and request/response exchanges (kind=response) measured by dRMON agents.", respLabels, nil)
	respSumDesc       = prometheus.NewDesc("wirebox_drmon_response_seconds_total", "Sum of the measured times; divide by the count for the mean.", respLabels, nil)
	drmonDropDesc     = prometheus.NewDesc("wirebox_drmon_dropped_total", "Agent messages the dRMON proxy dropped, by reason.", []string{"reason"}, nil)
	drmonAgentsDesc   = prometheus.NewDesc("wirebox_drmon_agents", "Agents the dRMON proxy knows.", nil, nil)
	drmonCapturedDesc = prometheus.NewDesc("wirebox_drmon_captured_frames_total", "Frames dRMON agents' channels captured and sent back.", nil, nil)
)
