// Package tick runs periodic work (flushes, pings, samples) until a
// context ends: the ticker loop every service would otherwise write again.
package tick

import (
	"context"
	"time"
)

// Every calls fn every d until ctx ends (it returns nil) or fn fails (it
// returns fn's error). The first call comes after d, not at once, and none
// comes once ctx has ended.
func Every(ctx context.Context, d time.Duration, fn func() error) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if ctx.Err() != nil { // both were ready: the end wins
				return nil
			}
			if err := fn(); err != nil {
				return err
			}
		}
	}
}
