package capture

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/testutil"
)

// TestPassiveTransmitOrder: a passive port sends through its
// PACKET_TX_RING (and, configured so, through sendmmsg) every frame of
// Sends of 1 to 2,500 frames, more than the ring holds, in order; frames
// the link cannot take (too short, longer than the MTU) are counted as
// errors without stopping the ring; the far end and the port's own TX
// subscriber count every frame, in order.
func TestPassiveTransmitOrder(t *testing.T) {
	for _, mmsg := range []bool{false, true} {
		name := "txring"
		if mmsg {
			name = "sendmmsg"
		}
		t.Run(name, func(t *testing.T) {
			tp := newTopo(t, 16384)
			port := tp.wb0(t, PortConfig{TxSendmmsg: mmsg, RingBlocks: 8})
			peer, err := tp.core.OpenPort(PortConfig{Name: "peer0", NetNS: tp.b.Path, RingBlocks: 8})
			if err != nil {
				t.Fatal(err)
			}
			if ring := port.eng.(*packetEngine).tx != nil; ring == mmsg {
				t.Fatalf("tx ring in use: %v, want %v", ring, !mmsg)
			}
			k := tp.core.NewConsumer("sender")
			defer k.Close()
			far := subscribe(t, k, peer, SubscribeOptions{Name: "far end", Queue: 8192})
			own := subscribe(t, k, port, SubscribeOptions{Name: "own tx", Direction: TX, Queue: 8192})
			batches := []int{1, 7, 300, 1024, 1025, 2500, 143}
			total, seq := 0, uint32(0)
			for _, n := range batches {
				total += n
			}
			var sends, errs uint64
			before := port.Stats()
			for i, n := range batches {
				frames := make([]Frame, n)
				if got := k.Alloc(frames); got != n {
					t.Fatalf("alloc %d of %d", got, n)
				}
				for _, f := range frames {
					b := testFrame(tp.lb.MAC, 60+int(seq%1400), seq)
					copy(f.Buffer(), b)
					f.SetLen(len(b))
					seq++
				}
				if i == 4 {
					// Two frames the link refuses, amid the batch.
					bad := make([]Frame, 2)
					if k.Alloc(bad) != 2 {
						t.Fatal("alloc")
					}
					bad[0].SetLen(10)
					bad[1].SetLen(1600)
					frames = append(frames[:500], append(bad, frames[500:]...)...)
				}
				// Errors of frames the engine queued are counted in
				// TxErrors, not returned.
				sent, err := port.Send(frames)
				sends += uint64((len(frames) + txBatchMax - 1) / txBatchMax)
				if err != nil || sent != len(frames) {
					t.Fatalf("sent %d of %d: %v", sent, len(frames), err)
				}
				if i == 4 {
					errs += 2
				}
			}
			if k.Held() != 0 {
				t.Fatalf("consumer still holds %d after sending", k.Held())
			}
			st := port.Stats()
			if got := st.TxErrors - before.TxErrors; got != errs {
				t.Fatalf("%d tx errors, want %d", got, errs)
			}
			// One kick per batch of up to 1,024 frames; a qdisc full for a
			// moment costs a retry.
			if kicks := st.TxKicks - before.TxKicks; kicks < sends || kicks > 2*sends {
				t.Fatalf("%d kicks for %d batches", kicks, sends)
			}
			for _, s := range []*Subscription{far, own} {
				next := uint32(0)
				got := receiveN(t, s, total)
				for _, f := range got {
					d := f.Data()
					if seq := binary.BigEndian.Uint32(d[14:]); seq != next || len(d) != 60+int(next%1400) {
						t.Fatalf("%s: frame %d (%d bytes) arrived as number %d", s.Name(), seq, len(d), next)
					}
					next++
				}
				ReleaseAll(got)
			}
			if n := far.TryReceive(make([]Frame, 1)); n != 0 {
				t.Fatal("the far end received more frames than were sent")
			}
		})
	}
}

// TestTxRingUnsentRewinds: a kick that fails (the link is down) leaves the
// ring's head where the kernel's stopped, so the next batch after the link
// returns goes out whole and in order, and the failed frames are counted.
func TestTxRingUnsentRewinds(t *testing.T) {
	tp := newTopo(t, 8192)
	port, peer := tp.ports(t, Passive)
	k := tp.core.NewConsumer("sender")
	defer k.Close()
	far := subscribe(t, k, peer, SubscribeOptions{Name: "far end", Queue: 4096})
	send := func(first uint32, n int) (int, error) {
		frames := make([]Frame, n)
		if k.Alloc(frames) != n {
			t.Fatal("alloc")
		}
		for i, f := range frames {
			b := testFrame(tp.lb.MAC, 60, first+uint32(i))
			copy(f.Buffer(), b)
			f.SetLen(len(b))
		}
		return port.Send(frames)
	}
	if _, err := send(0, 100); err != nil {
		t.Fatal(err)
	}
	e := port.eng.(*packetEngine)
	e.txMu.Lock()
	head := e.tx.head
	e.txMu.Unlock()
	if err := tp.a.Command("ip", "link", "set", "wb0", "down").Run(); err != nil {
		t.Fatal(err)
	}
	errsBefore := port.Stats().TxErrors
	if _, err := send(100, 50); err != nil {
		t.Fatalf("send on a link that is down: %v (counted, not returned)", err)
	}
	e.txMu.Lock()
	if e.tx.head != head {
		t.Errorf("ring head %d after a failed kick, want %d", e.tx.head, head)
	}
	e.txMu.Unlock()
	if got := port.Stats().TxErrors - errsBefore; got != 50 {
		t.Fatalf("%d tx errors for 50 unsent frames", got)
	}
	if err := tp.a.Command("ip", "link", "set", "wb0", "up").Run(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "wb0 up", func() bool { return port.Stats().LinkUp })
	if _, err := send(1000, 200); err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, far, 300)
	for i, f := range got {
		want := uint32(i)
		if i >= 100 {
			want = 1000 + uint32(i-100)
		}
		if seq := binary.BigEndian.Uint32(f.Data()[14:]); seq != want {
			t.Fatalf("frame %d is number %d, want %d", i, seq, want)
		}
	}
	ReleaseAll(got)
}

// TestTxRingComesRound: behind a qdisc that holds frames (tbf) and with a
// send buffer larger than the ring, the ring comes round to slots whose
// frames have not left yet; Send waits for them and every frame still
// leaves, in order.
func TestTxRingComesRound(t *testing.T) {
	tp := newTopo(t, 8192)
	if out, err := tp.a.Command("tc", "qdisc", "replace", "dev", "wb0", "root", "tbf", "rate", "2mbit", "burst", "4kb", "latency", "10s").CombinedOutput(); err != nil {
		t.Fatalf("tbf: %v: %s", err, out)
	}
	port, peer := tp.ports(t, Passive)
	// The socket's send buffer bounds the frames in flight (about 270 by
	// default, fewer than the ring's slots): make it large enough for the
	// ring to come round.
	e := port.eng.(*packetEngine)
	if err := unix.SetsockoptInt(e.txfd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64<<20); err != nil {
		t.Fatal(err)
	}
	k := tp.core.NewConsumer("sender")
	defer k.Close()
	far := subscribe(t, k, peer, SubscribeOptions{Name: "far end", Queue: 8192})
	const n = 3000
	for sent := 0; sent < n; {
		frames := make([]Frame, min(500, n-sent))
		if k.Alloc(frames) != len(frames) {
			t.Fatal("alloc")
		}
		for i, f := range frames {
			b := testFrame(tp.lb.MAC, 60, uint32(sent+i))
			copy(f.Buffer(), b)
			f.SetLen(len(b))
		}
		if got, err := port.Send(frames); err != nil || got != len(frames) {
			t.Fatalf("sent %d of %d: %v", got, len(frames), err)
		}
		sent += len(frames)
	}
	e.txMu.Lock()
	waits := e.tx.waits
	e.txMu.Unlock()
	if waits == 0 {
		t.Fatal("the ring never came round to a slot in use: the test did not test it")
	}
	if st := port.Stats(); st.TxErrors != 0 {
		t.Fatalf("%d tx errors", st.TxErrors)
	}
	got := receiveN(t, far, n)
	for i, f := range got {
		if seq := binary.BigEndian.Uint32(f.Data()[14:]); seq != uint32(i) {
			t.Fatalf("frame %d arrived as number %d", seq, i)
		}
	}
	ReleaseAll(got)
}
