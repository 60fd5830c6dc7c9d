// Package rmonsys is the RMON subsystem as the daemon's table lists it:
// the SNMP agent that answers as an RMON probe (rmon), its `rmon:`
// configuration section and `wirebox rmon`.
package rmonsys

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/rmon"
	"github.com/wirebox/wirebox/rmon/rmonui"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/subsys"
)

// Section is the `rmon:` section. Its zero value is the default: nothing
// listens and there is no community or user until configured.
var Section = config.NewSection(rmon.Name, rmon.Config{}, subsys.Validate[rmon.Config](rmon.Name))

// Subsystem is the RMON probe.
var Subsystem = subsys.Subsystem{
	Name:   rmon.Name,
	Config: Section,
	Services: func(env subsys.Env) ([]services.Service, error) {
		cfg := *Section.Of(env.Config)
		if cfg.Listen == "" {
			return nil, nil // not configured: nothing listens
		}
		if env.Core == nil {
			return nil, config.Errorf("rmon.listen", "the RMON probe watches the appliance's ports, and none is configured")
		}
		svc, err := rmon.New(cfg, env.Core, env.Log)
		if err != nil {
			return nil, fmt.Errorf("rmon: %w", err)
		}
		return []services.Service{svc}, nil
	},
	Commands: commands,
	Panels:   rmonui.Panels,
}

func commands(client subsys.ClientFunc) []*cobra.Command {
	c := subsys.GetCmd(&cobra.Command{
		Use:   "rmon",
		Short: "The RMON probe: the agent's address, per-port etherStats, top hosts, alarms",
		Args:  cobra.NoArgs,
	}, client, api.PathRMON, printSummary)
	return []*cobra.Command{c, agentCommand()}
}

func printSummary(w io.Writer, s rmon.Summary) error {
	fmt.Fprintf(w, "agent %s, engine %s: %d requests in, %d wrong digests, %d not in time window, %d unknown users\n",
		s.Listen, s.EngineID, s.SNMP.InPkts, s.SNMP.WrongDigests, s.SNMP.NotInTimeWindows, s.SNMP.UnknownUserNames)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PORT\tIFINDEX\tPKTS\tOCTETS\tBCAST\tMCAST\tDROPS\tCRC\tHOSTS\tPAIRS\tERRORS FROM\t")
	for _, p := range s.Ports {
		e := p.Ether
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", p.Name, p.IfIndex, e.Pkts, e.Octets, e.Broadcast, e.Multicast, e.DropEvents,
			e.CRCAlign, p.Hosts, p.Pairs, p.ErrorCounters)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range s.Ports {
		for _, h := range p.TopHost {
			fmt.Fprintf(w, "  %s: host %s out %d pkts %d octets, in %d pkts\n", p.Name, h.MAC, h.OutPkts, h.OutOctets, h.InPkts)
		}
	}
	for _, a := range s.Alarms {
		fmt.Fprintf(w, "alarm %d on %s: value %d (rising %d, falling %d), owner %q\n", a.Index, a.Variable, a.Value, a.Rising, a.Falling, a.Owner)
	}
	if _, err := fmt.Fprintf(w, "%d event log entries\n", s.Logs); err != nil || s.DRMON == nil {
		return err
	}
	d := s.DRMON
	fmt.Fprintf(w, "dRMON: %d agents, %d reports applied; dropped %d bad auth, %d replayed, %d malformed, %d out of sequence\n",
		len(d.Agents), d.Applied, d.BadAuth, d.Replayed, d.Malformed, d.OutOfSequence)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tADDR\tVIEW\tSEQ\tREPORTS\tLAST REPORT\tRTT µs\t")
	for _, a := range d.Agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%.0f\t\n", a.Name, a.Addr, a.View, a.Seq, a.Reports, a.LastReport.Format("15:04:05"), a.RTTMicros)
	}
	fmt.Fprintln(tw, "SERVER\tCLIENT\tOBSERVER\tSETUPS\tSETUP µs\tRESPONSES\tRESPONSE µs\t")
	for _, r := range d.Responses {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%d\t%.0f\t\n", r.Server, r.Client, r.Observer, r.Setups, r.SetupAvgUs, r.Responses, r.ResponseAvgUs)
	}
	return tw.Flush()
}
