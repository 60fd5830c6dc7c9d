package qemu

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Console collects a guest's serial output so tests can wait for text on
// it, and types into the guest. Use it as Options.Stdout, and Input() as
// Options.Stdin.
type Console struct {
	mu     sync.Mutex
	buf    strings.Builder
	change chan struct{} // closed and replaced on every write
	tee    io.Writer
	inR    *os.File
	inW    *os.File
}

// NewConsole returns a console that also copies the output to tee (may be
// nil). Its input is an OS pipe, so exec hands QEMU the descriptor itself
// and starts no copying goroutine (which could keep Wait from returning).
func NewConsole(tee io.Writer) (*Console, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &Console{change: make(chan struct{}), tee: tee, inR: r, inW: w}, nil
}

// Write records guest output.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.tee != nil {
		_, _ = c.tee.Write(p)
	}
	close(c.change)
	c.change = make(chan struct{})
	return len(p), nil
}

// Input is the reader QEMU takes the guest's keyboard from.
func (c *Console) Input() io.Reader { return c.inR }

// Type sends text to the guest's serial line.
func (c *Console) Type(s string) error {
	_, err := io.WriteString(c.inW, s)
	return err
}

// Close ends the input stream.
func (c *Console) Close() error {
	c.inR.Close()
	return c.inW.Close()
}

// String is everything the guest wrote so far.
func (c *Console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Expect waits until the output from offset on contains s and returns the
// offset just past it, so successive expectations read forward.
func (c *Console) Expect(ctx context.Context, from int, s string) (int, error) {
	for {
		c.mu.Lock()
		out := c.buf.String()
		ch := c.change
		c.mu.Unlock()
		if from > len(out) {
			from = len(out)
		}
		if i := strings.Index(out[from:], s); i >= 0 {
			return from + i + len(s), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return from, fmt.Errorf("console: waiting for %q: %w; last output:\n%s", s, context.Cause(ctx), tail(out, 1200))
		}
	}
}

// TypeUntil types line (a shell command) and waits up to each for s to
// follow from offset on, up to tries times: under load a keystroke can be
// lost on the serial line, or what the command looks at not be there yet.
func (c *Console) TypeUntil(ctx context.Context, from int, line, s string, tries int, each time.Duration) (int, error) {
	var err error
	for try := 0; try < tries; try++ {
		if err := c.Type(line + "\r"); err != nil {
			return from, err
		}
		tctx, cancel := context.WithTimeout(ctx, each)
		var off int
		off, err = c.Expect(tctx, from, s)
		cancel()
		if err == nil {
			return off, nil
		}
	}
	return from, fmt.Errorf("%q %d times: %w", line, tries, err)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
