package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
)

func newConfigApplyCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "apply FILE",
		Short: "Validate a configuration, apply it to the running daemon and store it",
		Long: `Send a configuration to the daemon (POST /v1/config). An invalid one is refused
with the error and the running configuration stays. A valid one is applied:
only the services whose part changed restart on it (a subsystem's section:
its services; api: the API services; name: none; pool, ports, auto_ports,
management, log or supervisor: every service), and the command says which.
When they all run it is stored on the data
partition (it survives a reboot) and the one before becomes the last good;
when they do not, the daemon goes back to the previous configuration and
this command says why. Waits for the outcome (--timeout).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return usageError(err)
			}
			// Check locally first: the same validation, with the file's name.
			if _, err := daemon.ParseConfig(b); err != nil {
				return err
			}
			return subsys.WithClient(g.client, func(cl *api.Client) error { return applyConfig(cmd.Context(), g.stdout, cl, b, timeout) })
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 3*time.Minute, "how long to wait for the outcome")
	return c
}

// applyConfig posts the configuration b and waits up to timeout for the
// daemon's outcome, which it prints.
func applyConfig(ctx context.Context, out io.Writer, cl *api.Client, b []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := postConfig(ctx, cl, b)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "configuration accepted (generation %d); the services it concerns restart\n", res.Generation)
	// The API goes away while the services restart: poll until the
	// daemon reports the outcome.
	for {
		var a api.Appliance
		err := cl.Get(ctx, api.PathAppliance, &a)
		if err == nil && a.Config.LastApply != "" && (a.Config.Generation >= res.Generation || strings.HasPrefix(a.Config.LastApply, "rolled back")) {
			if strings.HasPrefix(a.Config.LastApply, "rolled back") && a.Config.Generation < res.Generation {
				return errors.New(a.Config.LastApply)
			}
			fmt.Fprintf(out, "%s (source: %s%s); %s\n", a.Config.LastApply, a.Config.Source, pathSuffix(a.Config.Path), restartedText(a.Config.Restarted))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no outcome within %s (last: %v)", timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func pathSuffix(p string) string {
	if p == "" {
		return ""
	}
	return ", " + p
}

// postConfig sends the YAML as it is (the API takes the document, not JSON).
func postConfig(ctx context.Context, cl *api.Client, b []byte) (*api.ConfigApplied, error) {
	resp, err := cl.Do(ctx, http.MethodPost, api.PathConfig, bytes.NewReader(b))
	if err != nil {
		var he *api.HTTPError
		if errors.As(err, &he) {
			return nil, fmt.Errorf("configuration refused: %s", he.Msg)
		}
		return nil, err
	}
	defer resp.Body.Close()
	var res api.ConfigApplied
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, err
	}
	return &res, nil
}

func newConfigShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Print the running configuration and where it came from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return subsys.WithClient(g.client, func(cl *api.Client) error { return showConfig(cmd.Context(), g.stdout, cl) })
		},
	}
}

// showConfig prints the running configuration with where it came from.
func showConfig(ctx context.Context, out io.Writer, cl *api.Client) error {
	var a api.Appliance
	if err := cl.Get(ctx, api.PathAppliance, &a); err != nil {
		return err
	}
	ci := a.Config
	fmt.Fprintf(out, "# source: %s%s (generation %d", ci.Source, pathSuffix(ci.Path), ci.Generation)
	if !ci.Persistent {
		fmt.Fprint(out, "; no data partition: applied configurations are not kept")
	}
	fmt.Fprintln(out, ")")
	for _, f := range ci.Fallbacks {
		fmt.Fprintf(out, "# skipped: %s\n", strings.ReplaceAll(f, "\n", " "))
	}
	if ci.LastApply != "" {
		fmt.Fprintf(out, "# last apply: %s; %s\n", ci.LastApply, restartedText(ci.Restarted))
	}
	text, err := cl.Text(ctx, api.PathConfig)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, text)
	return err
}

func restartedText(names []string) string {
	if len(names) == 0 {
		return "no service restarted"
	}
	return "restarted: " + strings.Join(names, ", ")
}
