package main

import (
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/rmon"
)

// runLoad measures the probe's cost on a loaded port: trafgen sends n
// 64-byte frames at its full rate through a veth pair into a passive core
// port, once with the core alone and once with the rmon service
// subscribed; it prints the generator's rate and what the port and the
// probe counted.
func runLoad(n int) error {
	l, del, err := benchkit.NewLink("wbsnmpa-", "wbsnmpb-")
	defer del()
	if err != nil {
		return err
	}
	na, nb := l.Recv, l.Send
	// GRO and a qdisc make the veth push back on the sender instead of
	// dropping (as bench/core.sh).
	for _, c := range [][]string{
		{na, "ethtool", "-K", "wb0", "gro", "on"}, {nb, "ethtool", "-K", "peer0", "gro", "on"},
		{na, "tc", "qdisc", "replace", "dev", "wb0", "root", "pfifo", "limit", "10000"},
		{nb, "tc", "qdisc", "replace", "dev", "peer0", "root", "pfifo", "limit", "10000"},
	} {
		if err := benchkit.Sh(append([]string{"ip", "netns", "exec"}, c...)...); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "consumer\tframes sent\tgenerator pps\tport received\trmon counted\trmon drop events\t")
	for _, withRMON := range []bool{false, true} {
		r, err := loadRound(l, n, withRMON)
		if err != nil {
			return err
		}
		name := "core alone"
		if withRMON {
			name = "core + rmon"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%s\t%s\t\n", name, n, r.pps, r.received, r.counted, r.drops)
	}
	return tw.Flush()
}

type loadResult struct {
	pps            float64
	received       uint64
	counted, drops string
}

func loadRound(l benchkit.Link, n int, withRMON bool) (loadResult, error) {
	na := l.Recv
	var res loadResult
	core, closeCore, err := benchkit.NewCore(32768)
	if err != nil {
		return res, err
	}
	defer closeCore()
	port, err := core.OpenPort(capture.PortConfig{Name: "wb0", NetNS: "/run/netns/" + na, Mode: capture.Passive})
	if err != nil {
		return res, err
	}
	var svc *rmon.Service
	if withRMON {
		log := slog.New(slog.DiscardHandler)
		svc, err = rmon.New(rmon.Config{Listen: "127.0.0.1:0"}, func() *capture.Core { return core }, log)
		if err != nil {
			return res, err
		}
		stop, err := benchkit.Supervise(log, svc)
		if err != nil {
			return res, err
		}
		defer stop()
		for svc.Addr() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	el, err := l.Trafgen(n, benchkit.TrafgenFrame(l.DstMAC, "0x02, 0x00, 0x00, 0x00, 0x00, 0x01, c16(0x88b5), fill(0x00, 46)"))
	if err != nil {
		return res, err
	}
	res.pps = float64(n) / el.Seconds()
	// Wait for the counts to settle (no change for a second).
	var last uint64
	stable := time.Now()
	for time.Since(stable) < time.Second {
		time.Sleep(100 * time.Millisecond)
		c := port.Stats().RxPackets
		if svc != nil {
			if st, err := svc.Status(); err == nil {
				c += st.Ports[0].Ether.Pkts
			}
		}
		if c != last {
			last, stable = c, time.Now()
		}
	}
	res.received = port.Stats().RxPackets
	res.counted, res.drops = "-", "-"
	if svc != nil {
		st, err := svc.Status()
		if err != nil {
			return res, err
		}
		res.counted, res.drops = fmt.Sprint(st.Ports[0].Ether.Pkts), fmt.Sprint(st.Ports[0].Ether.DropEvents)
	}
	return res, nil
}
