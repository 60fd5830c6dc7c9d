package coresvc

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/services/servicestest"
)

// supervised runs svcs beside a core service on the near end of a veth
// pair until the test ends.
func supervised(t *testing.T, frames int, svcs ...services.Service) (*Service, *services.Supervisor, *netns.VethPair) {
	t.Helper()
	p := netns.Pair(t)
	core, err := New(config.PoolConfig{Frames: frames}, []config.PortConfig{{Name: p.NearLink.Name, Mode: "passive", Netns: p.Near.Path}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := core.pool.CheckFull(); err != nil {
			t.Error(err)
		}
		if err := core.Close(); err != nil {
			t.Error(err)
		}
	})
	sup := servicestest.Supervise(t, services.Options{BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, MaxFailures: 100},
		append([]services.Service{core}, svcs...)...)
	return core, sup, p
}

func waitState(t *testing.T, sup *services.Supervisor, name string, ok func(services.Status) bool) services.Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, st := range sup.Status() {
			if st.Name == name && ok(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("service %s: %+v", name, sup.Status())
		}
		select {
		case <-sup.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func frame(dst []byte, seq uint32) []byte {
	f := make([]byte, 64)
	copy(f, dst)
	copy(f[6:], []byte{0x02, 0, 0, 0, 0, 9})
	binary.BigEndian.PutUint16(f[12:], 0x88b5)
	binary.BigEndian.PutUint32(f[14:], seq)
	return f
}

// TestPanickingConsumerLeaksNothing: a service that panics while holding
// thousands of frames is restarted, and the frames it held are back in the
// pool: closing its consumer (deferred in Run) returns them.
func TestPanickingConsumerLeaksNothing(t *testing.T) {
	const hold = 3000
	var runs atomic.Int32
	var coreSvc *Service
	greedy := services.ServiceFunc{ServiceName: "greedy", DependsOn: []string{Name}, RunFunc: func(ctx context.Context, rt *services.Runtime) error {
		c := coreSvc.Core()
		k := c.NewConsumer("greedy")
		rt.OnExit(func() { k.Close() }) // the supervisor closes it, even after a panic
		sub, err := k.Subscribe(c.Ports()[0], capture.SubscribeOptions{Name: "greedy", Queue: 8192})
		if err != nil {
			return err
		}
		rt.Ready()
		if runs.Add(1) > 1 {
			<-ctx.Done() // the second run just holds on
			return nil
		}
		buf := make([]capture.Frame, 256)
		for got := 0; got < hold; {
			n, err := sub.Receive(ctx, buf)
			if err != nil {
				return err
			}
			got += n // and never released
		}
		panic("greedy consumer gives up holding every frame")
	}}
	var sup *services.Supervisor
	var p *netns.VethPair
	coreSvc, sup, p = supervised(t, 8192, greedy)
	waitState(t, sup, "greedy", func(s services.Status) bool { return s.State == services.StateRunning })
	pool := coreSvc.pool
	snd := p.Sender(t)
	for i := 0; i < hold; i++ {
		snd.Send(t, frame(p.NearLink.MAC, uint32(i)))
		if i%500 == 499 { // below the veth backlog
			time.Sleep(20 * time.Millisecond)
		}
	}
	st := waitState(t, sup, "greedy", func(s services.Status) bool { return s.Restarts >= 1 && s.State == services.StateRunning })
	if st.LastError == "" {
		t.Fatalf("no panic recorded: %+v", st)
	}
	if free := pool.FreeCount(); free != pool.Len() {
		t.Fatalf("after the restart %d of %d frames free: %v", free, pool.Len(), pool.Leaks()[:min(5, len(pool.Leaks()))])
	}
	t.Logf("panic: %s; pool full again (%d frames)", st.LastError, pool.Len())
}

// TestCoreRestartKeepsConsumers: restarting the core service keeps the
// same Core: a consumer's subscription receives again after the restart,
// with no new subscription, and the frames that arrived while the engines
// were stopped are counted as missed.
func TestCoreRestartKeepsConsumers(t *testing.T) {
	coreSvc, sup, p := supervised(t, 4096)
	waitState(t, sup, Name, func(s services.Status) bool { return s.State == services.StateRunning })
	c := coreSvc.Core()
	k := c.NewConsumer("session")
	defer k.Close()
	port := c.Ports()[0]
	sub, err := k.Subscribe(port, capture.SubscribeOptions{Name: "session", Queue: 4096})
	if err != nil {
		t.Fatal(err)
	}
	snd := p.Sender(t)
	recv := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		buf := make([]capture.Frame, 64)
		for got := 0; got < n; {
			k, err := sub.Receive(ctx, buf)
			if err != nil {
				t.Fatalf("received %d of %d: %v", got, n, err)
			}
			capture.ReleaseAll(buf[:k])
			got += k
		}
	}
	for i := 0; i < 100; i++ {
		snd.Send(t, frame(p.NearLink.MAC, uint32(i)))
	}
	recv(100)
	// Stop the core service for good (no restart until asked), send, and
	// start it again: a restart with a gap in between.
	if err := sup.Restart(Name); err != nil {
		t.Fatal(err)
	}
	waitState(t, sup, Name, func(s services.Status) bool {
		return s.State == services.StateRunning && port.Stats().EngineStarts == 2
	})
	if coreSvc.Core() != c {
		t.Fatal("the core service made a new Core on restart")
	}
	for i := 0; i < 100; i++ {
		snd.Send(t, frame(p.NearLink.MAC, uint32(100+i)))
	}
	recv(100)
	st := port.Stats()
	if st.EngineStarts != 2 || !st.Attached {
		t.Fatalf("after restart: %+v", st)
	}
	if _, err := sub.Receive(context.Background(), nil); errors.Is(err, capture.ErrClosed) {
		t.Fatal("subscription closed by the restart")
	}
}
