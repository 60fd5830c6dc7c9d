// Command mirrorclient runs the mirror client entry points until the CLI
// has a mirror command: the tests and bench/mirror drive it as a real
// process (signals, kill -9, namespaces through ip netns exec).
//
//	mirrorclient attach -server HOST:PORT -port NAME [-as IF] [-monitor] (-ca FILE | -fingerprint SHA256) -token T|@FILE
//	mirrorclient ports -server HOST:PORT (-ca FILE | -fingerprint SHA256) -token T|@FILE
//
// attach prints one line per state change ("state connected=... link=...")
// on stdout, so a driver can wait for it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/wirebox/wirebox/mirror"
	"github.com/wirebox/wirebox/mirror/proto"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mirrorclient attach|ports [flags]")
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	var o mirror.AttachOptions
	fs.StringVar(&o.Server, "server", "", "HOST[:PORT]")
	fs.StringVar(&o.CAFile, "ca", "", "CA file")
	fs.StringVar(&o.Fingerprint, "fingerprint", "", "pinned SHA-256 of the server certificate")
	fs.StringVar(&o.ServerName, "server-name", "", "name to verify")
	fs.StringVar(&o.Token, "token", "", "token or @FILE")
	fs.StringVar(&o.ClientCert, "cert", "", "client certificate (instead of a token)")
	fs.StringVar(&o.ClientKey, "key", "", "client key")
	fs.StringVar(&o.Port, "port", "", "appliance port")
	fs.StringVar(&o.As, "as", "", "TAP name")
	fs.BoolVar(&o.Monitor, "monitor", false, "read-only")
	_ = fs.Parse(os.Args[2:])
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "attach":
		o.OnState = func(s mirror.State) {
			fmt.Printf("state interface=%s connected=%t link=%t mtu=%d dropped=%d reason=%q\n",
				s.Interface, s.Connected, s.LinkUp, s.Port.MTU, s.DroppedWhileDown, s.Reason)
		}
		if err := mirror.Attach(ctx, o, log); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
	case "ports":
		ports, err := mirror.ListPorts(ctx, o.DialOptions)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		for _, p := range ports {
			fmt.Printf("port %s registered=%t link=%t speed=%d duplex=%s mtu=%d mac=%s held=%t holder=%s monitors=%d\n",
				p.Name, p.Registered, p.LinkUp, p.SpeedMbps, proto.DuplexString(p.Duplex), p.MTU, p.MAC, p.Held, p.Holder, p.Monitors)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", cmd)
		os.Exit(2)
	}
}
