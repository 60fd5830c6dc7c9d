package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Keep runs `wirebox daemon ARGS` and starts it again whenever it exits,
// until ctx ends: the daemon supervises its services, Keep supervises the
// daemon (kill -9, a panic outside a service, an out-of-memory kill). Each
// restart is logged to out and counted; the daemon learns the count and how
// its predecessor ended from EnvDaemonRestarts and EnvDaemonLastExit and
// reports them in GET /v1/appliance. A daemon that dies within a second of
// starting is restarted after a growing delay (100 ms doubling to 5 s), so a
// crash loop does not eat the CPU; otherwise after 100 ms.
func Keep(ctx context.Context, bin string, args []string, out io.Writer) error {
	// SIGTERM to the keeper stops the daemon and the keeper.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	restarts, lastExit := 0, ""
	delay := 100 * time.Millisecond
	for {
		cmd := exec.Command(bin, append([]string{"daemon"}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.Env = append(os.Environ(), EnvDaemonRestarts+"="+strconv.Itoa(restarts), EnvDaemonLastExit+"="+lastExit)
		started := time.Now()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start daemon: %w", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			return nil
		case err = <-done:
		}
		lastExit = exitText(err)
		restarts++
		if time.Since(started) < time.Second {
			delay = min(delay*2, 5*time.Second)
		} else {
			delay = 100 * time.Millisecond
		}
		fmt.Fprintf(out, "wirebox keep: daemon (pid %d) exited after %s: %s; restart %d in %s\n",
			cmd.Process.Pid, time.Since(started).Round(time.Millisecond), lastExit, restarts, delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

func exitText(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return err.Error()
}
