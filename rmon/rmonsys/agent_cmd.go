package rmonsys

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/selfsigned"
	"github.com/wirebox/wirebox/rmon"
	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/subsys"
)

// agentCommand is `wirebox agent`: a dRMON agent on any Linux host, no
// daemon needed.
func agentCommand() *cobra.Command {
	var ifaces, proxies []string
	var keyFile, group, listen, name string
	var tlsProxy, tlsCert, tlsKey, tlsCA, tlsName string
	var hello time.Duration
	var cpuProfile string
	var procs int
	c := &cobra.Command{
		Use:   "agent",
		Short: "Run a dRMON agent: count this host's traffic and report it to an RMON proxy (the appliance)",
		Long: `Counts this host's own unicast traffic on the given interfaces (per host
pair, size buckets, protocols, TCP connection set-up and response times)
with the capture core in passive mode, and answers the dRMON proxy's polls
(docs/DRMON-PROTOCOL.md). The proxy finds the agent by multicast discovery
(--group), or the agent announces itself to --proxy (several: the next
stands in when one stops answering). With --tls-proxy the agent reports
over TCP with TLS, certificates checked both ways.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(ifaces) == 0 {
				return subsys.Usage(fmt.Errorf("--interface is required"))
			}
			if keyFile == "" {
				return subsys.Usage(fmt.Errorf("--key-file is required: every message is authenticated"))
			}
			key, err := rmon.ReadKeyFile(keyFile)
			if err != nil {
				return subsys.Usage(err)
			}
			cfg := drmon.RunConfig{Interfaces: ifaces, Key: key, Listen: listen, Name: name,
				Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
			if group != "" {
				if cfg.Group, err = net.ResolveUDPAddr("udp4", group); err != nil || !cfg.Group.IP.IsMulticast() {
					return subsys.Usage(fmt.Errorf("--group %q: a multicast address:port", group))
				}
			}
			for _, p := range proxies {
				a, err := net.ResolveUDPAddr("udp4", p)
				if err != nil {
					return subsys.Usage(fmt.Errorf("--proxy: %w", err))
				}
				cfg.Proxies = append(cfg.Proxies, a)
			}
			cfg.HelloInterval = hello
			if tlsProxy != "" {
				if cfg.TLS, err = drmon.TLSConfig(false, tlsCert, tlsKey, tlsCA, tlsName); err != nil {
					return subsys.Usage(fmt.Errorf("--tls-proxy needs --tls-cert, --tls-key and --tls-ca: %w", err))
				}
				cfg.TLSProxy, cfg.Group = tlsProxy, nil
			}
			if cfg.Group == nil && len(cfg.Proxies) == 0 && cfg.TLSProxy == "" {
				return subsys.Usage(fmt.Errorf("give --group or --proxy"))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// One thread runs Go code by default: the agent's work is one
			// stream of batches, and a second P only spins between
			// hand-offs (bench/drmon: CPU per frame lower with one).
			if procs > 0 && os.Getenv("GOMAXPROCS") == "" {
				runtime.GOMAXPROCS(procs)
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return drmon.Run(ctx, cfg)
		},
	}
	c.AddCommand(agentCertCommand())
	f := c.Flags()
	f.StringSliceVarP(&ifaces, "interface", "i", nil, "interface to count (repeat or comma-separate)")
	f.StringVar(&keyFile, "key-file", "", "file holding the pre-shared key (at least 16 bytes)")
	f.StringVar(&group, "group", rmon.DefaultDiscoveryGroup, "discovery multicast group address:port (empty: none)")
	f.StringSliceVar(&proxies, "proxy", nil, "the proxy's address:port, announced to without discovery; more (comma-separated) stand in, in order, when it stops answering")
	f.DurationVar(&hello, "hello-interval", 5*time.Second, "how often to announce to the next proxy while none polls")
	f.StringVar(&tlsProxy, "tls-proxy", "", "the proxy's TLS address:port (rmon.drmon.tls_listen): report over TCP with TLS instead of UDP")
	f.StringVar(&tlsCert, "tls-cert", "", "the agent's certificate (PEM), signed by the CA the proxy checks")
	f.StringVar(&tlsKey, "tls-key", "", "the agent's private key (PEM)")
	f.StringVar(&tlsCA, "tls-ca", "", "the CA (PEM) the proxy's certificate must chain to")
	f.StringVar(&tlsName, "tls-server-name", "", "the name the proxy's certificate must be valid for (default: the host of --tls-proxy)")
	f.StringVar(&listen, "listen", "", "UDP address to answer on (default 0.0.0.0 and the group's port)")
	f.StringVar(&name, "name", "", "the agent's name at the proxy (default: the host name)")
	f.IntVar(&procs, "procs", 1, "threads running Go code at once (GOMAXPROCS; 0: one per CPU)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the agent to this file (for bench/drmon)")
	f.MarkHidden("cpuprofile")
	return c
}

// agentCertCommand is `wirebox agent cert`: on the appliance, sign an
// agent's TLS client certificate with the appliance's CA.
func agentCertCommand() *cobra.Command {
	var ca, caKey, name, out string
	c := &cobra.Command{
		Use:   "cert",
		Short: "Sign a dRMON agent's TLS certificate with the appliance's CA (for --tls-cert/--tls-key)",
		Long: `Writes OUT.pem and OUT.key (mode 0600): a client certificate for the
agent NAME, signed by the CA (--ca, --ca-key) whose certificate the proxy
has as rmon.drmon.tls_ca_file. Copy both to the agent's host with the CA
certificate (for --tls-ca).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ca == "" || caKey == "" || name == "" || out == "" {
				return subsys.Usage(fmt.Errorf("--ca, --ca-key, --name and --out are required"))
			}
			f := selfsigned.Files{CA: ca, CAKey: caKey}
			if err := selfsigned.IssueClient(f, name, out+".pem", out+".key", time.Now()); err != nil {
				return fmt.Errorf("agent cert: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s.pem, %s.key: agent %q, signed by %s\n", out, out, name, ca)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&ca, "ca", "", "the CA certificate (PEM)")
	f.StringVar(&caKey, "ca-key", "", "the CA's private key (PEM)")
	f.StringVar(&name, "name", "", "the agent's name (the certificate's common name)")
	f.StringVar(&out, "out", "", "path prefix of the certificate and key written")
	return c
}
