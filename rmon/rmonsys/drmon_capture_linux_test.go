package rmonsys_test

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wirebox/wirebox/internal/pkttest"
)

// TestDRMONCapture: a manager creates a channel with an ICMP filter and a
// capture buffer on the proxy's dRMON view with snmpset; the proxy pushes
// them to the two agents, which apply the filter to their own frames;
// the channel counts every matching frame once, and captureBufferTable
// holds the frames of both agents in time order.
func TestDRMONCapture(t *testing.T) {
	pkttest.Need(t, "snmpwalk", "snmpset", "snmpget", "ping")
	l := newDRMONLab(t, writable)
	l.startAgents(2)
	const (
		agent   = "udp:127.0.0.1:1161"
		channel = "1.3.6.1.2.1.16.7.2.1."
		filter  = "1.3.6.1.2.1.16.7.1.1."
		buffer  = "1.3.6.1.2.1.16.8.1.1."
		capBuf  = "1.3.6.1.2.1.16.8.2.1."
		view    = "2" // the view's ifIndex
	)
	set := func(args ...string) { t.Helper(); l.snmp("snmpset", "lab-rw", append([]string{agent}, args...)...) }
	// Channel 1 on the view: accept matching frames, capture on; valid
	// last, so the first configuration pushed is the whole one.
	set(channel+"12.1", "i", "2", channel+"2.1", "i", view, channel+"3.1", "i", "1", channel+"4.1", "i", "1", channel+"11.1", "s", "test")
	// Filter 1: IPv4 (ethertype at 12) carrying ICMP (protocol at 23).
	set(filter+"11.1", "i", "2", filter+"2.1", "i", "1", filter+"3.1", "i", "12",
		filter+"4.1", "x", "080000000000000000000001", filter+"5.1", "x", "ffff000000000000000000ff")
	set(filter+"11.1", "i", "1")
	// Buffer 1: the first 64 bytes of each frame.
	set(buffer+"13.1", "i", "2", buffer+"2.1", "i", "1", buffer+"5.1", "i", "64")
	set(buffer+"13.1", "i", "1")
	set(channel+"12.1", "i", "1")
	l.wait("both agents apply the pushed channel", func() bool {
		n := 0
		for _, a := range l.summary().DRMON.Agents {
			if a.ConfigGen > 0 {
				n++
			}
		}
		return n == 2
	})

	// h1 and h2 ping h4 (no agent) at the same time, 15 each, 20 ms apart:
	// their frames interleave in time, and each agent sends its own in
	// batches. h1 pings h2 3 times: both agents see those, counted once.
	// UDP from h1 to the proxy's open port does not pass the filter. The
	// truth is what ping saw: on this shared machine a reply can be lost
	// (the kernel's ICMP rate limit is global), so the frames are the
	// requests sent and the replies received.
	var wg sync.WaitGroup
	var errs [2]error
	var sent, got [3]int // by sender: h1, h2 (pings to h4), h1 (to h2)
	ping := func(i, from, to, count int) error {
		out, err := l.hosts[from].Command("ping", "-q", "-c", strconv.Itoa(count), "-i", "0.02", l.ips[to]).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ping from h%d: %v %s", from+1, err, out)
		}
		if _, err := fmt.Sscanf(string(out[strings.Index(string(out), "---"):]), "--- %s ping statistics ---\n%d packets transmitted, %d received", new(string), &sent[i], &got[i]); err != nil {
			return fmt.Errorf("ping output %q: %v", out, err)
		}
		return nil
	}
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ping(i, i, 3, 15)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ping(2, 0, 1, 3); err != nil {
		t.Fatal(err)
	}
	if out, err := l.hosts[0].Command("python3", "-c", `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5): s.sendto(b"x" * 20, ("10.77.0.10", 7161))`).CombinedOutput(); err != nil {
		t.Fatalf("udp: %v %s", err, out)
	}
	t.Logf("ping requests sent %v, replies received %v", sent, got)
	want := 0
	for i := range sent {
		want += sent[i] + got[i]
	}
	get := func(oid string) string {
		return strings.TrimSpace(l.snmp("snmpget", "lab-ro", "-Oqv", agent, oid))
	}
	var matches, captured string
	l.wait("channelMatches and the captured packets", func() bool {
		m, c := get(channel+"9.1"), get(buffer+"10.1")
		if m != matches || c != captured {
			t.Logf("channelMatches %s, bufferControlCapturedPackets %s", m, c)
		}
		matches, captured = m, c
		return matches == strconv.Itoa(want) && captured == strconv.Itoa(want)
	})

	// The manager's walk of captureBufferTable: packet data and times.
	walk := func(col string) map[int]string {
		out := l.snmp("snmpwalk", "lab-ro", "-Oqn", "-Ox", agent, capBuf+col+".1")
		m := map[int]string{}
		last := -1
		for _, line := range pkttest.Lines(out) {
			if !strings.HasPrefix(line, ".") && last >= 0 {
				m[last] += strings.ReplaceAll(strings.Trim(line, `"`), " ", "") // a long hex value goes on
				continue
			}
			oid, val, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			parts := strings.Split(oid, ".")
			id, err := strconv.Atoi(parts[len(parts)-1])
			if err != nil {
				t.Fatalf("walk line %q", line)
			}
			m[id] = strings.ReplaceAll(strings.Trim(val, `"`), " ", "")
			last = id
		}
		return m
	}
	data, times := walk("4"), walk("6")
	if len(data) != want || len(times) != want {
		t.Fatalf("captureBufferTable: %d packets, %d times; want %d", len(data), len(times), want)
	}
	ids := slices.Sorted(func(yield func(int) bool) {
		for id := range data {
			if !yield(id) {
				return
			}
		}
	})
	mac := func(i int) string { return strings.ReplaceAll(l.macs[i].String(), ":", "") }
	from := map[string]int{}
	last := int64(-1)
	// Per ping stream, an echo request (ICMP type 8) comes before its reply.
	outstanding := map[string]bool{}
	for _, id := range ids {
		b, err := hex.DecodeString(data[id])
		if err != nil || len(b) != 64 {
			t.Fatalf("packet %d: %d bytes %v; want the 64-byte slice", id, len(b), err)
		}
		tm, err := strconv.ParseInt(times[id], 10, 64)
		if err != nil {
			t.Fatalf("packet %d time %q", id, times[id])
		}
		if tm < last {
			t.Errorf("packet %d at %d ms, after one at %d ms: not in time order", id, tm, last)
		}
		last = tm
		src, dst := hex.EncodeToString(b[6:12]), hex.EncodeToString(b[0:6])
		from[src]++
		typ := b[34]
		switch typ {
		case 8:
			outstanding[src+dst] = true
		case 0:
			if !outstanding[dst+src] {
				t.Errorf("packet %d: an echo reply %s->%s before its request", id, src, dst)
			}
			outstanding[dst+src] = false
		default:
			t.Errorf("packet %d: ICMP type %d", id, typ)
		}
	}
	if from[mac(0)] != sent[0]+sent[2] || from[mac(1)] != sent[1]+got[2] || from[mac(3)] != got[0]+got[1] {
		t.Errorf("captured by sender: %v; want h1 %s %d, h2 %s %d, h4 %s %d", from, mac(0), sent[0]+sent[2], mac(1), sent[1]+got[2], mac(3), got[0]+got[1])
	}
	// Each agent captured its own: both contributed.
	var per []string
	for _, a := range l.summary().DRMON.Agents {
		per = append(per, fmt.Sprintf("%s:%d", a.Name, a.Captured))
		if a.Captured == 0 {
			t.Errorf("agent %s sent no captured frames", a.Name)
		}
	}
	t.Logf("captured per agent: %v", per)

	// The manager removes the channel: the agents stop applying it.
	set(channel+"12.1", "i", "4")
	l.wait("the agents drop the channel", func() bool { return agentLogHas(l, "channels=0") })
}

// agentLogHas reports whether every started agent logged s.
func agentLogHas(l *drmonLab, s string) bool {
	for _, c := range l.agents {
		b, ok := c.Stdout.(interface{ String() string })
		if !ok || !strings.Contains(b.String(), s) {
			return false
		}
	}
	return true
}
