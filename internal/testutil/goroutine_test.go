package testutil

import (
	"context"
	"errors"
	"testing"
)

// TestGo: stop ends run's context and returns its error, twice the same;
// a run the test never stopped is stopped by the cleanup.
func TestGo(t *testing.T) {
	boom := errors.New("boom")
	stop := Go(t, func(ctx context.Context) error { <-ctx.Done(); return boom })
	if err := stop(); err != boom {
		t.Fatalf("stop = %v, want %v", err, boom)
	}
	if err := stop(); err != boom {
		t.Fatalf("second stop = %v, want %v", err, boom)
	}
	var ended bool
	t.Run("cleanup", func(t *testing.T) {
		Go(t, func(ctx context.Context) error { <-ctx.Done(); ended = true; return nil })
	})
	if !ended {
		t.Fatal("the cleanup did not stop the run")
	}
}
