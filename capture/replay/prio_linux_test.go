package replay

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/capture/pcapng"
)

// TestRealTimeWhileSleeping: the replay thread runs SCHED_FIFO while it
// sleeps between frames (100 µs spacing), gives it up once it has spun
// for a while without sleeping (then 5,000 frames 1 µs apart, 5 ms of spinning), and after
// Run the thread is as it was: policy, nice and timer slack. A thread left
// real-time would be reused by the Go runtime for anything.
func TestRealTimeWhileSleeping(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("SCHED_FIFO needs CAP_SYS_NICE")
	}
	var recs []pcapng.Record
	ts := t0
	for i := 0; i < 5100; i++ {
		gap := time.Microsecond
		if i < 100 {
			gap = 100 * time.Microsecond
		}
		ts = ts.Add(gap)
		recs = append(recs, pcapng.Record{Timestamp: ts, Data: make([]byte, 60), Length: 60, LinkType: layers.LinkTypeEthernet})
	}
	runtime.LockOSThread() // Run's thread is this one: inspect it before and after
	defer runtime.UnlockOSThread()
	before, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	slack, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	var policy []uint32
	_, err = Run(context.Background(), opener(recs), SenderFunc(func([]byte) error {
		a, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			return err
		}
		policy = append(policy, a.Policy)
		return nil
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if policy[0] != unix.SCHED_FIFO {
		t.Fatalf("first frame sent under policy %d, want SCHED_FIFO", policy[0])
	}
	if last := policy[len(policy)-1]; last != unix.SCHED_NORMAL {
		t.Fatalf("after 5 ms of frames 1 µs apart the policy is still %d, want SCHED_NORMAL", last)
	}
	after, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	slackAfter, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if after.Policy != before.Policy || after.Nice != before.Nice || slackAfter != slack {
		t.Fatalf("thread after Run: policy %d nice %d slack %d; before: %d %d %d", after.Policy, after.Nice, slackAfter, before.Policy, before.Nice, slack)
	}
	n := 0
	for n < len(policy) && policy[n] == unix.SCHED_FIFO {
		n++
	}
	t.Logf("%d of %d frames sent under SCHED_FIFO", n, len(policy))
}
