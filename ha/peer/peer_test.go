package peer

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/pkttest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// realMessages are messages as the ha service sends them.
func realMessages(tb testing.TB) [][]byte {
	hb := Heartbeat{Priority: 200, Role: RoleActive, Flags: FlagPreempt, Conns: 1000, SyncGen: 3, SentNS: 1e18, EchoNS: 1e18 - 5e6, HoldNS: 40000}
	m := Mirror{Side: 1, Flags: MirrorForward, Backend: netip.MustParseAddrPort("10.0.2.11:8080"),
		Frame: pkttest.TCP(tb, "10.0.1.5", "10.0.1.100", 40000, 80, false, true, []byte("data"))}
	s := Sync{Gen: 3, Entries: []Entry{{Proto: 6, State: 3, ClientIP: [4]byte{10, 0, 1, 5}, ClientPort: 40000,
		Backend: netip.MustParseAddrPort("10.0.2.11:8080"), ClientMAC: [6]byte{2, 0, 0, 0, 0, 1}, Packets: 99, Bytes: 9999, IdleMS: 12}}}
	c := Counted{Gen: 3, Count: 1000}
	var out [][]byte
	for i, p := range [][]byte{hb.Append(nil), m.Append(nil), s.Append(nil), c.Append(nil), c.Append(nil), c.Append(nil), c.Append(nil)} {
		out = append(out, Seal(nil, testKey, Header{Type: uint8(i + 1), Epoch: 7, Seq: uint64(i + 1)}, p))
	}
	return out
}

func TestSealOpenRoundTrip(t *testing.T) {
	msgs := realMessages(t)
	h, p, err := Open(testKey, msgs[0])
	if err != nil || h.Type != TypeHeartbeat || h.Epoch != 7 || h.Seq != 1 {
		t.Fatalf("open: %+v %v", h, err)
	}
	var hb Heartbeat
	if err := hb.Decode(p); err != nil || hb.Conns != 1000 || hb.Role != RoleActive || hb.HoldNS != 40000 {
		t.Fatalf("heartbeat %+v %v", hb, err)
	}
	_, p, _ = Open(testKey, msgs[1])
	var m Mirror
	if err := m.Decode(p); err != nil || m.Backend.String() != "10.0.2.11:8080" || !bytes.Contains(m.Frame, []byte("data")) {
		t.Fatalf("mirror %+v %v", m, err)
	}
	_, p, _ = Open(testKey, msgs[2])
	var s Sync
	if err := s.Decode(p); err != nil || len(s.Entries) != 1 || s.Entries[0].Packets != 99 || s.Entries[0].Backend.Port() != 8080 {
		t.Fatalf("sync %+v %v", s, err)
	}
	// One flipped bit anywhere: forged.
	for i := range msgs[0] {
		b := bytes.Clone(msgs[0])
		b[i] ^= 0x10
		if _, _, err := Open(testKey, b); err == nil {
			t.Fatalf("bit flip at %d accepted", i)
		}
	}
	if _, _, err := Open([]byte("another key, the wrong one......"), msgs[0]); err != ErrForged {
		t.Fatalf("wrong key: %v", err)
	}
	if MaxEntries < 20 {
		t.Fatalf("only %d entries per datagram", MaxEntries)
	}
}

func TestWindow(t *testing.T) {
	var w Window
	for _, c := range []struct {
		epoch, seq uint64
		ok         bool
	}{
		{1, 1, true}, {1, 1, false}, {1, 3, true}, {1, 2, true}, {1, 2, false},
		{1, 2000, true}, {1, 500, false}, {1, 1990, true}, {1, 1990, false},
		{0, 5000, false}, // older epoch
		{2, 1, true},     // the peer restarted
		{2, 0, false},
		{1, 3000, false},
	} {
		if got := w.Check(c.epoch, c.seq); got != c.ok {
			t.Fatalf("epoch %d seq %d: got %v, want %v", c.epoch, c.seq, got, c.ok)
		}
	}
}

// linkPair is two links on 127.0.0.1 that are each other's peer, closed
// when the test ends; bAddr is b's address.
func linkPair(t *testing.T) (a, b *Link, bAddr netip.AddrPort) {
	t.Helper()
	var addrs [2]netip.AddrPort
	for i := range addrs {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = c.LocalAddr().(*net.UDPAddr).AddrPort()
		c.Close()
	}
	a, err := Listen(Config{Listen: addrs[0], Peer: addrs[1], Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = Listen(Config{Listen: addrs[1], Peer: addrs[0], Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b, addrs[1]
}

// TestLinkDropsForgedAndReplayed: over real UDP sockets, a message sealed
// with the wrong key and a replayed message are dropped and counted; the
// authentic ones arrive.
func TestLinkDropsForgedAndReplayed(t *testing.T) {
	a, b, bAddr := linkPair(t)
	// A forger on the peer's own address cannot be told apart by address,
	// only by key: send from a's socket with the wrong key.
	forged := Seal(nil, []byte("not the key, not the key, not it"), Header{Type: TypeTakeover, Epoch: a.epoch + 1, Seq: 1}, (&Counted{}).Append(nil))
	if _, err := a.conn.WriteToUDPAddrPort(forged, bAddr); err != nil {
		t.Fatal(err)
	}
	hb := Heartbeat{Priority: 1}
	if err := a.Send(TypeHeartbeat, hb.Append); err != nil {
		t.Fatal(err)
	}
	replay := Seal(nil, testKey, Header{Type: TypeHeartbeat, Epoch: a.epoch, Seq: 1}, hb.Append(nil))
	a.conn.WriteToUDPAddrPort(replay, bAddr)
	a.Send(TypeTakeover, (&Counted{Gen: 9}).Append)
	buf := make([]byte, MaxMessage)
	b.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, _, err := b.Recv(buf)
	if err != nil || h.Type != TypeHeartbeat {
		t.Fatalf("first: %+v %v", h, err)
	}
	h, p, err := b.Recv(buf)
	if err != nil || h.Type != TypeTakeover {
		t.Fatalf("second: %+v %v", h, err)
	}
	var c Counted
	if c.Decode(p); c.Gen != 9 {
		t.Fatalf("takeover gen %d", c.Gen)
	}
	st := b.Stats()
	if st.Forged != 1 || st.Replayed != 1 || st.Received != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// FuzzOpen: the decoder of everything the peer link receives, seeded with
// real messages of every type.
func FuzzOpen(f *testing.F) {
	for _, m := range realMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, p, err := Open(testKey, data)
		if err != nil {
			// Also feed the raw bytes to the payload decoders: a bug
			// there must not depend on forging a MAC.
			p = data
		}
		var hb Heartbeat
		var m Mirror
		var s Sync
		var c Counted
		_ = hb.Decode(p)
		_ = m.Decode(p)
		_ = s.Decode(p)
		_ = c.Decode(p)
		if err == nil {
			// An accepted message re-seals to the same bytes.
			if got := Seal(nil, testKey, h, p); !bytes.Equal(got, data) {
				t.Fatalf("reseal differs")
			}
		}
	})
}

// TestRecvBatch: many messages waiting are read in one batch, in order,
// with a forged one among them dropped and counted.
func TestRecvBatch(t *testing.T) {
	a, b, bAddr := linkPair(t)
	for i := range 20 {
		if i == 10 {
			forged := Seal(nil, []byte("not the key, not the key, not it"), Header{Type: TypeHeartbeat, Epoch: a.epoch, Seq: 999}, nil)
			a.conn.WriteToUDPAddrPort(forged, bAddr)
		}
		c := Counted{Count: uint64(i)}
		if err := a.Send(TypeSyncDone, c.Append); err != nil {
			t.Fatal(err)
		}
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	out := make([]Message, len(bufs))
	b.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	next, batches := uint64(0), 0
	for next < 20 {
		n, err := b.RecvBatch(bufs, out)
		if err != nil {
			t.Fatal(err)
		}
		batches++
		for _, m := range out[:n] {
			var c Counted
			if err := c.Decode(m.Payload); err != nil || c.Count != next || m.Type != TypeSyncDone {
				t.Fatalf("message %d: %+v %v", next, c, err)
			}
			next++
		}
	}
	if st := b.Stats(); st.Forged != 1 || st.Received != 20 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("20 messages in %d batches", batches)
}

// TestQueueFlush: queued messages leave in order with the ones sent
// directly, in batches (sendmmsg) and by themselves once the queue is
// full, and each arrives authentic.
func TestQueueFlush(t *testing.T) {
	a, b, _ := linkPair(t)
	const n = 3*maxQueue + 5
	for i := range n {
		c := Counted{Count: uint64(i)}
		var err error
		if i%50 == 49 {
			err = a.Send(TypeSyncDone, c.Append) // after the queued ones
		} else {
			err = a.Queue(TypeSyncDone, c.Append)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, MaxMessage)
	b.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		_, p, err := b.Recv(buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		var c Counted
		if err := c.Decode(p); err != nil || c.Count != uint64(i) {
			t.Fatalf("message %d: got %+v %v", i, c, err)
		}
	}
	if st := a.Stats(); st.Sent != n || st.SendErrors != 0 {
		t.Fatalf("sender stats %+v", st)
	}
}
