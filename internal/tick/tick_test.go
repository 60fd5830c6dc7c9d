package tick

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestEveryStopsOnError(t *testing.T) {
	n := 0
	boom := errors.New("boom")
	err := Every(context.Background(), time.Millisecond, func() error {
		if n++; n == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 3 {
		t.Fatalf("Every = %v after %d calls, want boom after 3", err, n)
	}
}

func TestEveryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Every(ctx, time.Millisecond, func() error {
		if n++; n == 2 {
			cancel()
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("Every = %v after %d calls, want nil after 2", err, n)
	}
}
