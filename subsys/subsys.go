// Package subsys is the contract between the daemon and a subsystem: a
// subsystem is one folder that exports one Subsystem value, and the daemon
// lists that value in its table (daemon/subsystems.go). Through it the
// subsystem brings its configuration section, its supervised services
// (with their API routes and metrics, through services.RouteProvider and
// services.CollectorProvider), its CLI commands and its console panels;
// nothing else in the tree names the subsystem.
//
// The package sits just above the core: it imports internal/*, services,
// the core (capture, tap) and the console framework (tui), and nothing
// that imports a subsystem.
package subsys

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/tui"
)

// Subsystem is one subsystem as the daemon, the CLI and the console see it.
// Every field but Name may be nil.
type Subsystem struct {
	// Name names the subsystem (usually also its main service).
	Name string
	// Config is the subsystem's section of the configuration file (make it
	// with config.NewSection; its key is conventionally Name). It is decoded
	// strictly with the rest of the file, validated by the subsystem, shown
	// by `wirebox config default`, and read back with Section.Of(env.Config).
	Config config.Section
	// Services builds the subsystem's supervised services. Services that
	// serve API routes or metrics implement services.RouteProvider or
	// services.CollectorProvider; the daemon registers them.
	Services func(env Env) ([]services.Service, error)
	// Commands are the subsystem's top-level CLI commands; they reach the
	// daemon through client.
	Commands func(client ClientFunc) []*cobra.Command
	// Panels are the subsystem's console screens, after the core's.
	Panels func(env *tui.Env) []tui.Panel
}

// Env is what the daemon hands a subsystem's Services.
type Env struct {
	// Config is the whole validated configuration; a subsystem reads its
	// own section with its config.SectionOf's Of.
	Config *config.Config
	// Core returns the capture core (the "core" service's), or nil before
	// that service first ran. Core itself is nil when the appliance has no
	// ports, and so no core. The Core is a stable handle: a restart of the
	// core service stops and starts the port engines but keeps the Core,
	// its ports and every consumer's subscriptions. A service that uses it
	// lists CoreService in its Deps, makes its consumers in Run and hands
	// them to rt.OnExit, so that whatever a run held is reclaimed.
	Core CoreFunc
	// Log is the daemon's logger; each service also gets its own in Run.
	Log *slog.Logger
}

// CoreFunc is Env.Core. Its Core method makes it the CoreSource a
// service's constructor takes.
type CoreFunc func() *capture.Core

// Core returns f's core.
func (f CoreFunc) Core() *capture.Core { return f() }

// Validate is a Section's validation (config.NewSection) by the
// configuration's own Validate method, whose errors start with "key: ":
// the section's errors name the key already.
func Validate[T any, P interface {
	*T
	Validate() error
}](key string) func(*T) error {
	return func(c *T) error {
		if err := P(c).Validate(); err != nil {
			return config.Errorf("", "%s", strings.TrimPrefix(err.Error(), key+": "))
		}
		return nil
	}
}

// CoreService is the name of the core's service, for Deps.
const CoreService = "core"

// ClientFunc returns a client of the daemon the command line names
// (--socket, or --remote with --token and --ca). The caller closes it.
type ClientFunc func() (*api.Client, error)

// UsageError marks a command-line error (a missing flag, a bad value): the
// command exits with status 2, like a bad configuration.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage wraps err as a UsageError.
func Usage(err error) error { return UsageError{err} }

// IsUsage reports whether err is (or wraps) a UsageError.
func IsUsage(err error) bool {
	var ue UsageError
	return errors.As(err, &ue)
}

// PrintJSON writes v as indented JSON: what a command's --json prints.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WithClient opens a client, runs do with it and closes it.
func WithClient(client ClientFunc, do func(*api.Client) error) error {
	cl, err := client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return do(cl)
}

// Query is the body of most client commands: one request to path (GET when
// in is nil, else POST of in as JSON), its answer printed as the API's JSON
// when asJSON, else by text.
func Query[T any](cmd *cobra.Command, client ClientFunc, asJSON bool, path string, in any, text func(w io.Writer, v T) error) error {
	return WithClient(client, func(cl *api.Client) error {
		var v T
		var err error
		if in == nil {
			err = cl.Get(cmd.Context(), path, &v)
		} else {
			err = cl.Post(cmd.Context(), path, in, &v)
		}
		if err != nil {
			return err
		}
		if asJSON {
			return PrintJSON(cmd.OutOrStdout(), v)
		}
		return text(cmd.OutOrStdout(), v)
	})
}

// GetCmd makes c (Use, Short, Args...) a command whose body is one Query:
// a GET of path, printed by text or, with --json, as the API's JSON.
func GetCmd[T any](c *cobra.Command, client ClientFunc, path string, text func(w io.Writer, v T) error) *cobra.Command {
	return queryCmd(c, client, func([]string) string { return path }, nil, text)
}

// PostCmd makes c a command whose body is one Query: a POST without
// parameters to the path its arguments name, the answer printed by text
// or, with --json, as the API's JSON.
func PostCmd[T any](c *cobra.Command, client ClientFunc, path func(args []string) string, text func(w io.Writer, v T) error) *cobra.Command {
	return queryCmd(c, client, path, struct{}{}, text)
}

func queryCmd[T any](c *cobra.Command, client ClientFunc, path func([]string) string, in any, text func(io.Writer, T) error) *cobra.Command {
	asJSON := JSONFlag(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		return Query(cmd, client, *asJSON, path(args), in, text)
	}
	return c
}

// VerboseLog adds the -v/--verbose flag (described by usage) to c and
// returns the logger of c's run: text on c's stderr, at info level, or
// debug with -v.
func VerboseLog(c *cobra.Command, usage string) func() *slog.Logger {
	verbose := c.Flags().BoolP("verbose", "v", false, usage)
	return func() *slog.Logger {
		level := slog.LevelInfo
		if *verbose {
			level = slog.LevelDebug
		}
		return slog.New(slog.NewTextHandler(c.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	}
}

// JSONFlag adds the --json flag every listing command has.
func JSONFlag(c *cobra.Command) *bool {
	return c.Flags().Bool("json", false, "print the API's JSON")
}
