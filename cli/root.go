// Package cli is the wirebox command line: one binary, busybox-style
// subcommands, all of them thin clients of the daemon's control API except
// `daemon` itself.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/buildinfo"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/subsys"
)

// Exit statuses.
const (
	ExitOK     = 0
	ExitError  = 1
	ExitConfig = 2 // bad configuration or bad usage
)

// usageError marks errors that should exit with ExitConfig; subsystems'
// commands use subsys.Usage for the same.
func usageError(err error) error { return subsys.Usage(err) }

// globals are the flags every client command shares.
type globals struct {
	socket string
	remote string
	token  string
	ca     string
	stdout io.Writer
	stderr io.Writer
}

// client returns an API client for the daemon the flags name.
func (g *globals) client() (*api.Client, error) {
	if g.remote != "" {
		tok, err := api.ReadToken(g.token)
		if err != nil {
			return nil, fmt.Errorf("reading token: %w", err)
		}
		return api.NewRemoteClient(g.remote, tok, api.ClientTLS{CAFile: g.ca})
	}
	return api.NewUnixClient(g.socket), nil
}

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "wirebox:", userMessage(err))
	var ce *config.Error
	switch {
	case subsys.IsUsage(err), errors.As(err, &ce):
		return ExitConfig
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "unknown shorthand flag"), strings.Contains(err.Error(), "arg(s)"),
		strings.HasPrefix(err.Error(), "invalid argument"), strings.HasPrefix(err.Error(), "flag needs an argument"):
		return ExitConfig
	}
	return ExitError
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "wirebox",
		Short: "wirebox network test appliance",
		Long: `wirebox is a network test appliance: one image, one binary, supervised services.

Run "wirebox daemon" on the appliance; every other command talks to its control
API, on the local socket by default or remotely with --remote, --token and --ca.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.String(),
	}
	root.SetVersionTemplate("wirebox {{.Version}}\n")
	defSock := config.DefaultSocket
	if v := os.Getenv("WIREBOX_SOCKET"); v != "" {
		defSock = v
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.socket, "socket", defSock, "control API unix socket (env WIREBOX_SOCKET)")
	pf.StringVar(&g.remote, "remote", os.Getenv("WIREBOX_REMOTE"), "remote control API, https://host:port (env WIREBOX_REMOTE)")
	pf.StringVar(&g.token, "token", os.Getenv("WIREBOX_TOKEN"), "bearer token for --remote, or @FILE to read it (env WIREBOX_TOKEN)")
	pf.StringVar(&g.ca, "ca", os.Getenv("WIREBOX_CA"), "PEM CA bundle that signed the remote daemon's certificate (env WIREBOX_CA)")

	root.AddCommand(
		newDaemonCmd(g),
		newStatusCmd(g),
		newLogsCmd(g),
		newRestartCmd(g),
		newVersionCmd(g),
		newConfigCmd(g),
		newConsoleCmd(g),
		newPortsCmd(g),
		newImageCmd(g),
		newQemuCmd(g),
		newBootCmd(g),
		newKeepCmd(g),
	)
	// Each subsystem's own commands, from the daemon's table.
	for _, sub := range daemon.Subsystems() {
		if sub.Commands != nil {
			root.AddCommand(sub.Commands(g.client)...)
		}
	}
	return root
}

// userMessage is err as a user should read it: the API's status code
// ("(HTTP 400)") is for programs, the message says what went wrong.
func userMessage(err error) string {
	msg := err.Error()
	var he *api.HTTPError
	if errors.As(err, &he) {
		msg = strings.Replace(msg, he.Error(), he.Msg, 1)
	}
	return msg
}
