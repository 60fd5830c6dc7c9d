package mirrorsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/mirror"
	"github.com/wirebox/wirebox/subsys"
)

func commands(client subsys.ClientFunc) []*cobra.Command {
	c := &cobra.Command{
		Use:   "mirror",
		Short: "Mirror an appliance port to a local interface (attach, detach, ports); the daemon's mirror sessions and ports",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(attachCmd(), detachCmd(), portsCmd(), sessionsCmd(client),
		registerCmd(client, "register", "Allow a port to be mirrored", api.MirrorRegisterPath),
		registerCmd(client, "unregister", "Withdraw a port from mirroring (its clients are told and lose it)", api.MirrorUnregisterPath))
	return []*cobra.Command{c}
}

// dialFlags are the flags that say how to reach and trust a mirror server.
// They shadow the root's --ca and --token, which are the control API's.
func dialFlags(c *cobra.Command, o *mirror.DialOptions) {
	f := c.Flags()
	f.StringVar(&o.CAFile, "ca", "", "CA file that signed the server's certificate (the appliance's state dir: mirror-ca.pem)")
	f.StringVar(&o.Fingerprint, "fingerprint", "", "pinned SHA-256 of the server's certificate (printed by the appliance), instead of --ca")
	f.StringVar(&o.ServerName, "server-name", "", "name to check the certificate against (default: HOST)")
	f.StringVar(&o.Token, "token", os.Getenv("WIREBOX_MIRROR_TOKEN"), "client token, or @FILE to read it (env WIREBOX_MIRROR_TOKEN)")
	f.StringVar(&o.ClientCert, "cert", "", "client certificate (instead of a token)")
	f.StringVar(&o.ClientKey, "key", "", "key of --cert")
	c.MarkFlagsMutuallyExclusive("ca", "fingerprint")
}

func needTrust(o mirror.DialOptions) error {
	if o.CAFile == "" && o.Fingerprint == "" {
		return subsys.Usage(errors.New("give --ca FILE or --fingerprint SHA256: the server's certificate is always verified"))
	}
	return nil
}

func attachCmd() *cobra.Command {
	var o mirror.AttachOptions
	var log func() *slog.Logger
	var pcapFile string
	c := &cobra.Command{
		Use:   "attach HOST[:PORT] PORTNAME",
		Short: "Make an appliance port a local TAP interface (runs until Ctrl-C, which removes the TAP)",
		Long: `Attach connects to the appliance's mirror service over TLS and creates a local
TAP interface (--as, default wbm-PORTNAME) that is the appliance's port: the
port's received frames come out of it with the appliance's timestamps, and
frames sent on it leave the port. Its carrier follows the remote link and
the tunnel; a broken tunnel is reconnected with backoff. With --monitor the
port's traffic both ways is seen read-only, next to the client holding it.

A line per state change is printed on stdout.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Server, o.Port = args[0], args[1]
			if err := needTrust(o.DialOptions); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			o.OnState = func(s mirror.State) {
				fmt.Fprintf(out, "%s: connected=%t link=%t mtu=%d dropped=%d reason=%q\n",
					s.Interface, s.Connected, s.LinkUp, s.Port.MTU, s.DroppedWhileDown, s.Reason)
			}
			if pcapFile != "" {
				f, err := os.OpenFile(pcapFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
				if err != nil {
					return err
				}
				defer f.Close()
				o.Pcap = f
			}
			return mirror.Attach(ctx, o, log())
		},
	}
	c.Flags().StringVar(&pcapFile, "pcap", "", "also write the port's frames to this pcapng file with the appliance's nanosecond timestamps (tcpdump -r reads it; tcpdump on the TAP sees local kernel times)")
	dialFlags(c, &o.DialOptions)
	c.Flags().StringVar(&o.As, "as", "", "name of the local TAP (default wbm-PORTNAME)")
	c.Flags().BoolVar(&o.Monitor, "monitor", false, "read-only: see the port's frames, send nothing")
	c.Flags().BoolVar(&o.NoOffload, "no-offload", false, "turn the TAP's TSO and checksum offload off")
	log = subsys.VerboseLog(c, "log debug messages")
	return c
}

func detachCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "detach IFNAME",
		Short: "Remove a mirror TAP (an attach running elsewhere for it stops mirroring)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return mirror.Detach(args[0])
		},
	}
}

func portsCmd() *cobra.Command {
	var o mirror.DialOptions
	c := &cobra.Command{
		Use:   "ports HOST[:PORT]",
		Short: "List a mirror server's ports: link, speed, MTU, MAC, registered, who holds them",
		Args:  cobra.ExactArgs(1),
	}
	asJSON := subsys.JSONFlag(c)
	dialFlags(c, &o)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		o.Server = args[0]
		if err := needTrust(o); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
		defer cancel()
		ps, err := mirror.ListPorts(ctx, o)
		if err != nil {
			return err
		}
		out := make([]api.MirrorPort, 0, len(ps))
		for _, p := range ps {
			out = append(out, mirror.WirePort(p))
		}
		if *asJSON {
			return subsys.PrintJSON(cmd.OutOrStdout(), out)
		}
		return printPorts(cmd.OutOrStdout(), out)
	}
	return c
}

func printPorts(w io.Writer, ps []api.MirrorPort) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tREGISTERED\tLINK\tSPEED\tDUPLEX\tMTU\tMAC\tHOLDER\tMONITORS")
	for _, p := range ps {
		holder := p.Holder
		if holder == "" {
			holder = "-"
		}
		fmt.Fprintf(tw, "%s\t%t\t%s\t%d\t%s\t%d\t%s\t%s\t%d\n", p.Name, p.Registered, p.Link, p.SpeedMbps, p.Duplex, p.MTU, p.MAC, holder, p.Monitors)
	}
	return tw.Flush()
}

func sessionsCmd(client subsys.ClientFunc) *cobra.Command {
	return subsys.GetCmd(&cobra.Command{
		Use:   "sessions",
		Short: "The daemon's mirror clients: address, port, frames and bytes each way, drops, RTT",
		Args:  cobra.NoArgs,
	}, client, api.PathMirrorSessions, printSessions)
}

func printSessions(w io.Writer, ss []api.MirrorSession) error {
	if len(ss) == 0 {
		_, err := fmt.Fprintln(w, "no mirror clients")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCLIENT\tIDENTITY\tPORT\tMODE\tTO CLIENT\tFROM CLIENT\tDROPPED TO/FROM\tRTT µs\tSINCE")
	for _, s := range ss {
		port, mode := s.Port, s.Mode
		if port == "" {
			port, mode = "-", "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d frames %d B\t%d frames %d B\t%d/%d\t%.0f\t%s\n", s.ID, s.Client, s.Identity, port, mode,
			s.FramesToClient, s.BytesToClient, s.FramesFromClient, s.BytesFromClient, s.DroppedToClient, s.DroppedFromClient,
			s.RTTMicros, s.Since.Format(time.DateTime))
	}
	return tw.Flush()
}

func registerCmd(client subsys.ClientFunc, verb, short string, path func(string) string) *cobra.Command {
	return subsys.PostCmd(&cobra.Command{
		Use:   verb + " PORT",
		Short: short,
		Args:  cobra.ExactArgs(1),
	}, client, func(args []string) string { return path(args[0]) }, printPorts)
}
