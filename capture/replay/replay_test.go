package replay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/internal/pkttest"
)

// fakeClock jumps to each deadline; senders may advance it to model cost.
type fakeClock struct{ now int64 }

func (c *fakeClock) Now() int64                            { return c.now }
func (c *fakeClock) SleepUntil(_ context.Context, t int64) { c.now = t }

type sliceSource struct {
	recs []pcapng.Record
	i    int
}

func (s *sliceSource) Next() (pcapng.Record, error) {
	if s.i >= len(s.recs) {
		return pcapng.Record{}, io.EOF
	}
	s.i++
	return s.recs[s.i-1], nil
}

var t0 = time.Unix(1700000000, 500)

func spaced(n int, gap time.Duration) []pcapng.Record {
	recs := make([]pcapng.Record, n)
	for i := range recs {
		recs[i] = pcapng.Record{Timestamp: t0.Add(time.Duration(i) * gap), Data: []byte{byte(i), byte(i >> 8)}, Length: 2, LinkType: layers.LinkTypeEthernet}
	}
	return recs
}

func opener(recs []pcapng.Record) func() (Source, error) {
	return func() (Source, error) { return &sliceSource{recs: recs}, nil }
}

// sendLog records when (on the fake clock) each frame went out.
type sendLog struct {
	clk   *fakeClock
	at    []int64
	cost  func(i int) int64 // time the send itself takes
	frame [][]byte
}

func (s *sendLog) Send(b []byte) error {
	s.at = append(s.at, s.clk.now)
	s.frame = append(s.frame, append([]byte(nil), b...))
	if s.cost != nil {
		s.clk.now += s.cost(len(s.at) - 1)
	}
	return nil
}

const lead = int64(time.Millisecond)

func TestScheduleIsAbsolute(t *testing.T) {
	clk := &fakeClock{now: 1e9}
	start := clk.now + lead
	// Sending costs 1 µs, and frame 10 stalls for 5 ms: frames 10..60 are
	// late, and from then on every frame goes out exactly on time again. A
	// scheduler that adds up gaps would stay 5 ms behind for good.
	log := &sendLog{clk: clk, cost: func(i int) int64 {
		if i == 10 {
			return int64(5 * time.Millisecond)
		}
		return int64(time.Microsecond)
	}}
	rep, err := Run(context.Background(), opener(spaced(10000, 100*time.Microsecond)), log, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 10000 || rep.Errors != 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, at := range log.at {
		due := start + int64(i)*int64(100*time.Microsecond)
		switch {
		case i <= 10 || i > 60:
			if at != due {
				t.Fatalf("frame %d sent at %+d ns from due", i, at-due)
			}
		default:
			if at <= due {
				t.Fatalf("frame %d during the stall sent on time", i)
			}
		}
	}
	// Frame 11 is the worst: due 100 µs after frame 10, sent 5 ms after it.
	wantWorst := 5*time.Millisecond - 100*time.Microsecond
	if rep.Late != 50 || rep.WorstLate != wantWorst {
		t.Fatalf("late %d worst %v, want 50 and %v", rep.Late, rep.WorstLate, wantWorst)
	}
	if want := time.Duration(9999 * 100 * time.Microsecond); rep.Duration != want {
		t.Fatalf("duration %v, want %v", rep.Duration, want)
	}
}

func TestSpeedAndLoop(t *testing.T) {
	clk := &fakeClock{}
	log := &sendLog{clk: clk}
	recs := spaced(3, 100*time.Microsecond) // 0, 100, 200 µs
	rep, err := Run(context.Background(), opener(recs), log, Options{Clock: clk, Speed: 2, Loop: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 9 {
		t.Fatalf("sent %d", rep.Sent)
	}
	// Each loop starts one mean gap (100 µs) after the previous one's last
	// frame, all at half the captured time.
	var rel []int64
	for _, at := range log.at {
		rel = append(rel, (at-lead)/1000)
	}
	want := []int64{0, 50, 100, 150, 200, 250, 300, 350, 400}
	for i := range want {
		if rel[i] != want[i] {
			t.Fatalf("send times (µs) %v, want %v", rel, want)
		}
	}
}

func TestOutOfOrderAndSpeedErrors(t *testing.T) {
	clk := &fakeClock{}
	log := &sendLog{clk: clk}
	recs := spaced(3, time.Millisecond)
	recs[1].Timestamp = t0.Add(-time.Second) // before the first: sent at once
	if _, err := Run(context.Background(), opener(recs), log, Options{Clock: clk}); err != nil {
		t.Fatal(err)
	}
	if log.at[1] != lead || log.at[2] != lead+2e6 {
		t.Fatalf("send times %v", log.at)
	}
	for _, o := range []Options{{Speed: -1}, {Loop: -2}} {
		if _, err := Run(context.Background(), opener(recs), log, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestPadTruncatedFrames(t *testing.T) {
	clk := &fakeClock{}
	log := &sendLog{clk: clk}
	recs := []pcapng.Record{
		{Timestamp: t0, Data: []byte("0123456789"), Length: 40, LinkType: layers.LinkTypeEthernet},
		{Timestamp: t0, Data: []byte("whole"), Length: 5, LinkType: layers.LinkTypeEthernet},
	}
	rep, err := Run(context.Background(), opener(recs), log, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Padded != 1 || len(log.frame[0]) != 40 || string(log.frame[1]) != "whole" {
		t.Fatalf("report %+v frames %q", rep, log.frame)
	}
	// The pattern is aligned to the frame offset: byte 10 is pattern[10].
	want := "0123456789" + "d!wirebox-pad!wirebox-pad!wire"
	if string(log.frame[0]) != want {
		t.Fatalf("padded %q, want %q", log.frame[0], want)
	}
	// NoPad sends as captured.
	log2 := &sendLog{clk: clk}
	Run(context.Background(), opener(recs), log2, Options{Clock: clk, NoPad: true})
	if len(log2.frame[0]) != 10 {
		t.Fatalf("NoPad sent %d bytes", len(log2.frame[0]))
	}
	// A corrupt original length is an error, not a 4 GB frame.
	recs[0].Length = 1 << 30
	if _, err := Run(context.Background(), opener(recs), &sendLog{clk: clk}, Options{Clock: clk}); err == nil {
		t.Fatal("absurd length accepted")
	}
}

func TestSendErrorsCounted(t *testing.T) {
	clk := &fakeClock{}
	n := 0
	rep, err := Run(context.Background(), opener(spaced(5, time.Microsecond)), SenderFunc(func([]byte) error {
		n++
		if n%2 == 0 {
			return errors.New("no buffer space")
		}
		return nil
	}), Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 3 || rep.Errors != 2 || rep.FirstError != "no buffer space" {
		t.Fatalf("%+v", rep)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := Run(ctx, opener(spaced(100, time.Hour)), SenderFunc(func([]byte) error {
		n++
		if n == 1 {
			cancel() // the second frame is due in an hour
		}
		return nil
	}), Options{})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("err %v after %d sends", err, n)
	}
}

// TestRealClockRun replays a file written by our writer with the real
// clock. It checks order and count and logs the lateness it saw (no timed
// assertions: the fidelity numbers belong to the benchmark).
func TestRealClockRun(t *testing.T) {
	dir := t.TempDir()
	w, err := pcapng.NewWriter(pcapng.Options{Dir: dir, Interfaces: []pcapng.Interface{{Name: "p0", SnapLen: 64}}, Compress: pcapng.CompressZstd})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := 0; i < n; i++ {
		f := pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1, uint16(i), make([]byte, 100))
		if err := w.WritePacket(pcapng.Packet{Timestamp: t0.Add(time.Duration(i) * 50 * time.Microsecond), Data: f[:64], Length: len(f)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	var got [][]byte
	var at []time.Time
	rep, err := Run(context.Background(), FileSource(w.Files()[0]), SenderFunc(func(b []byte) error {
		at = append(at, time.Now())
		got = append(got, append([]byte(nil), b...))
		return nil
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != n || rep.Padded != n || len(got) != n {
		t.Fatalf("%+v", rep)
	}
	want := pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1, 7, make([]byte, 100))
	if !bytes.Equal(got[7][:64], want[:64]) || !bytes.Contains(got[7][64:], []byte("wirebox-pad!")) || len(got[7]) != len(want) {
		t.Fatalf("frame 7: %x", got[7])
	}
	errs := make([]time.Duration, 0, n-1)
	for i := 1; i < n; i++ {
		d := at[i].Sub(at[i-1]) - 50*time.Microsecond
		if d < 0 {
			d = -d
		}
		errs = append(errs, d)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i] < errs[j] })
	t.Logf("real clock: %d frames in %v, late %d, worst late %v; gap error median %v p99 %v max %v",
		rep.Sent, rep.Duration, rep.Late, rep.WorstLate, errs[len(errs)/2], errs[len(errs)*99/100], errs[len(errs)-1])
}

// TestBounds: absurd speeds are refused, a jump of 136 years between two
// timestamps ends the replay with an error naming the frame instead of
// waiting, a non-Ethernet link type is refused, and LoopForever sends until
// the context ends (and stops on an empty file).
func TestBounds(t *testing.T) {
	recs := spaced(3, time.Millisecond)
	for _, sp := range []float64{1e-300, -1, math.NaN(), math.Inf(1), 1e7} {
		clk := &fakeClock{}
		if _, err := Run(context.Background(), opener(recs), &sendLog{clk: clk}, Options{Clock: clk, Speed: sp}); err == nil || !strings.Contains(err.Error(), "speed") {
			t.Errorf("speed %g: %v", sp, err)
		}
	}
	for _, sp := range []float64{MinSpeed, MaxSpeed} {
		clk := &fakeClock{}
		if rep, err := Run(context.Background(), opener(recs), &sendLog{clk: clk}, Options{Clock: clk, Speed: sp}); err != nil || rep.Sent != 3 {
			t.Errorf("speed %g: %v %+v", sp, err, rep)
		}
	}

	jump := spaced(3, time.Millisecond)
	jump[2].Timestamp = jump[1].Timestamp.Add(136 * 365 * 24 * time.Hour)
	for _, sp := range []float64{1, MinSpeed, MaxSpeed} {
		clk := &fakeClock{}
		rep, err := Run(context.Background(), opener(jump), &sendLog{clk: clk}, Options{Clock: clk, Speed: sp})
		if err == nil || !strings.Contains(err.Error(), "frame 3 is due") || rep.Sent != 2 {
			t.Errorf("speed %g, a 136-year gap: sent %d, %v", sp, rep.Sent, err)
		}
	}

	raw := spaced(2, time.Millisecond)
	raw[1].LinkType = layers.LinkTypeRaw
	clk := &fakeClock{}
	if rep, err := Run(context.Background(), opener(raw), &sendLog{clk: clk}, Options{Clock: clk}); !errors.Is(err, ErrLinkType) || rep.Sent != 1 || !strings.Contains(err.Error(), "frame 2") {
		t.Errorf("raw IP: sent %d, %v", rep.Sent, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk = &fakeClock{}
	n := 0
	stopper := SenderFunc(func([]byte) error {
		if n++; n == 100 {
			cancel()
		}
		return nil
	})
	rep, err := Run(ctx, opener(recs), stopper, Options{Clock: clk, Loop: LoopForever})
	if !errors.Is(err, context.Canceled) || rep.Sent != 100 {
		t.Errorf("loop forever: sent %d, %v", rep.Sent, err)
	}
	if rep, err := Run(context.Background(), opener(nil), stopper, Options{Clock: clk, Loop: LoopForever}); err != nil || rep.Sent != 0 {
		t.Errorf("loop forever over an empty file: %d %v", rep.Sent, err)
	}
}
