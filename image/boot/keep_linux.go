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
	return keep(ctx, "daemon", out, func(restarts int, lastExit string) (*exec.Cmd, func(), error) {
		cmd := exec.Command(bin, append([]string{"daemon"}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.Env = append(os.Environ(), EnvDaemonRestarts+"="+strconv.Itoa(restarts), EnvDaemonLastExit+"="+lastExit)
		return cmd, func() {}, nil
	})
}

// KeepConsole runs the console (`wirebox console`) on the virtual terminal
// tty (/dev/tty2: Alt-F2 on a chassis's screen and keyboard) as its
// controlling terminal, and starts it again whenever it exits (q quits it,
// as on the serial line, and a fresh one comes up), until ctx ends.
func KeepConsole(ctx context.Context, bin, tty string, out io.Writer) error {
	return keep(ctx, "console on "+tty, out, func(int, string) (*exec.Cmd, func(), error) {
		f, err := os.OpenFile(tty, os.O_RDWR, 0)
		if err != nil {
			return nil, nil, err
		}

		cmd := exec.Command(bin, "console")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
		cmd.Env = append(os.Environ(), "TERM=linux")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		return cmd, func() { f.Close() }, nil
	})
}

// keep starts what start makes, waits for it, and starts it again after a
// delay (100 ms; doubling to 5 s while it keeps dying within a second)
// until ctx ends or SIGTERM/SIGINT arrive, when it stops it (SIGTERM, then
// SIGKILL after 15 s).
func keep(ctx context.Context, what string, out io.Writer, start func(restarts int, lastExit string) (*exec.Cmd, func(), error)) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	restarts, lastExit := 0, ""
	delay := 100 * time.Millisecond
	for {
		cmd, done, err := start(restarts, lastExit)
		if err == nil {
			err = cmd.Start()
			if err != nil {
				done()
			}
		}
		if err != nil {
			return fmt.Errorf("start %s: %w", what, err)
		}
		started := time.Now()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); done() }()
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			return nil
		case err = <-exited:
		}
		lastExit = exitText(err)
		restarts++
		if time.Since(started) < time.Second {
			delay = min(delay*2, 5*time.Second)
		} else {
			delay = 100 * time.Millisecond
		}
		fmt.Fprintf(out, "wirebox keep: %s (pid %d) exited after %s: %s; restart %d in %s\n",
			what, cmd.Process.Pid, time.Since(started).Round(time.Millisecond), lastExit, restarts, delay)
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
