package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/wirebox/wirebox/ha/hatraffic"
	"github.com/wirebox/wirebox/ha/node"
)

// tputResult is one system's forwarding throughput.
type tputResult struct {
	system            string
	tcpMbps           float64
	udpSent, udpRecvd float64 // packets per second
}

type iperfJSON struct {
	End struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		Sum struct {
			Packets     float64 `json:"packets"`
			LostPackets float64 `json:"lost_packets"`
			Seconds     float64 `json:"seconds"`
		} `json:"sum"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperf runs one iperf3 client through the VIP against a one-off server.
func iperf(t *topo, secs int, udp bool) (iperfJSON, error) {
	var r iperfJSON
	srv := exec.Command("ip", "netns", "exec", t.sv, "iperf3", "-s", "-1", "-B", hatraffic.Server1, "-p", "8080")
	if err := srv.Start(); err != nil {
		return r, err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	time.Sleep(300 * time.Millisecond)
	args := []string{"netns", "exec", t.cl, "iperf3", "-c", hatraffic.VIP, "-p", "80", "-t", fmt.Sprint(secs), "-J"}
	if udp {
		// 22 bytes of payload: 64-byte Ethernet frames (no FCS on veth).
		args = append(args, "-u", "-b", udpRate, "-l", "22")
	}
	out, err := exec.Command("ip", args...).Output()
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		return r, fmt.Errorf("iperf3: %v %v: %s", err, jerr, out)
	}
	if r.Error != "" {
		if os.Getenv("BENCH_HA_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "%s\n", out)
		}
		return r, fmt.Errorf("iperf3: %s", r.Error)
	}
	return r, nil
}

// udpRate is the offered UDP load (iperf3 -b, payload bits; env
// BENCH_HA_UDP_RATE): an
// unlimited flood starves iperf3's own control connection through any
// forwarder that drops, and the run ends without a report.
var udpRate = envOr("BENCH_HA_UDP_RATE", "5M")

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

var tputSystems = []string{"nftables", "wirebox-alone", "wirebox-sr"}

func throughput(secs int, systems []string) error {
	var rs []tputResult
	for _, sys := range systems {
		t, err := newTopo(sys == "nftables")
		if err != nil {
			return err
		}
		r, err := tputOne(t, sys, secs)
		t.close()
		if err != nil {
			return fmt.Errorf("%s: %w", sys, err)
		}
		rs = append(rs, r)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tTCP (full-size frames)\tUDP 64-byte sent\tUDP 64-byte forwarded\tvs nftables (TCP, UDP fwd)")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%.0f Mbit/s\t%.0f pps\t%.0f pps\t%.2f, %.2f\n", r.system, r.tcpMbps, r.udpSent, r.udpRecvd,
			r.tcpMbps/rs[0].tcpMbps, r.udpRecvd/rs[0].udpRecvd)
	}
	return tw.Flush()
}

func tputOne(t *topo, sys string, secs int) (tputResult, error) {
	r := tputResult{system: sys}
	switch sys {
	case "nftables":
		nft := filepath.Join(t.dir, "tput.nft")
		rules := fmt.Sprintf("table ip bench {\n chain pre {\n  type nat hook prerouting priority dstnat; policy accept;\n  ip daddr %s tcp dport 80 dnat to %s:8080\n  ip daddr %s udp dport 80 dnat to %s:8080\n }\n}\n", hatraffic.VIP, hatraffic.Server1, hatraffic.VIP, hatraffic.Server1)
		if err := os.WriteFile(nft, []byte(rules), 0o600); err != nil {
			return r, err
		}
		for _, c := range [][]string{{"nft", "-f", nft}, {"ip", "addr", "add", hatraffic.VIP + "/24", "dev", "a0"}, {"ip", "addr", "add", hatraffic.Gateway + "/24", "dev", "a1"}} {
			if err := nsx(t.a, c...); err != nil {
				return r, err
			}
		}
	default:
		w := &wbPair{t: t, mode: node.StandbyResponse, alone: sys == "wirebox-alone", single: true}
		defer w.close()
		if err := w.start(true); err != nil {
			return r, err
		}
		if err := waitFor(20*time.Second, func() bool { a, ok := w.active(); return ok && a }); err != nil {
			return r, err
		}
		if !w.alone {
			if err := w.start(false); err != nil {
				return r, err
			}
			if err := waitFor(30*time.Second, w.ready); err != nil {
				return r, err
			}
		}
	}
	tcp, err := iperf(t, secs, false)
	if err != nil {
		return r, fmt.Errorf("TCP: %w", err)
	}
	r.tcpMbps = tcp.End.SumReceived.BitsPerSecond / 1e6
	udp, err := iperf(t, secs, true)
	if err != nil {
		return r, fmt.Errorf("UDP: %w", err)
	}
	if s := udp.End.Sum.Seconds; s > 0 {
		r.udpSent = udp.End.Sum.Packets / s
		r.udpRecvd = (udp.End.Sum.Packets - udp.End.Sum.LostPackets) / s
	}
	return r, nil
}
