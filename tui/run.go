package tui

import (
	"context"
	"errors"
	"fmt"
	"os"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/term"

	"github.com/wirebox/wirebox/internal/api"
)

// Run runs the console on the process's terminal until the user quits or
// ctx ends, with the core's screens and then the subsystems' (panels). It picks the monochrome theme for terminals without colour and
// sizes a terminal that reports 0x0.
func Run(ctx context.Context, cl *api.Client, panels ...func(*Env) []Panel) error {
	if !term.IsTerminal(os.Stdin.Fd()) {
		// bubbletea would fall back to /dev/tty; without one there is
		// nothing to draw on.
		tty, err := os.Open("/dev/tty")
		if err != nil {
			return errors.New("the console needs a terminal; for scripts use `wirebox status` and `wirebox logs`")
		}
		tty.Close()
	}
	env := os.Environ()
	fb := FallbackSize(env)
	if _, err := EnsureTTYSize(os.Stdout, fb); err != nil {
		return err
	}
	// The model's requests and timers end with the program, however it ends.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	theme := ColorTheme()
	var opts []tea.ProgramOption
	if WantMono(os.Stdout, env) {
		theme = MonoTheme()
		opts = append(opts, tea.WithColorProfile(colorprofile.Ascii))
	}
	m := New(Options{Client: cl, Context: ctx, Theme: &theme, Fallback: fb, Panels: WithPanels(panels...)})
	in, restore, err := LineInput(os.Stdin)
	if err != nil {
		return err
	}
	opts = append(opts, tea.WithContext(ctx), tea.WithInput(in))
	_, err = tea.NewProgram(m, opts...).Run()
	restore()
	if IsSessionLeader() {
		// We are the console's login shell: hand the line back cleanly.
		_ = ReleaseTTY(os.Stdin)
	}
	if err != nil && !(errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}
