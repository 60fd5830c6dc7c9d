package capture

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wirebox/wirebox/tap"
)

// Consumer is one user of the core: a service, a capture session, a tap
// application. It has its own owner id, and every frame reference it
// holds (received from its subscriptions, allocated, or added with Ref)
// is recorded against it, so that Close gives every one of them back to
// the pool, whatever state the consumer's code was left in: a service
// that panics while holding frames leaks nothing.
//
// Frames leave a consumer when it releases, sends, injects or reverts
// them. A consumer's Close must not race with its own use of frames in a
// way that matters: a Release after Close is harmless (the reference was
// already given back), but data read from a reclaimed frame may have been
// overwritten.
type Consumer struct {
	c     *Core
	name  string
	owner tap.Owner
	// held counts this consumer's references per frame.
	held []atomic.Int32

	mu     sync.Mutex
	subs   []*Subscription
	cache  *tap.Cache
	closed atomic.Bool

	reclaimed atomic.Uint64
}

// NewConsumer attaches a consumer to the core. Close it when done (a
// service closes its consumers when Run returns, also after a panic).
func (c *Core) NewConsumer(name string) *Consumer {
	k := &Consumer{
		c:     c,
		name:  name,
		owner: tap.Owner(c.nextOwner.Add(1)),
		held:  make([]atomic.Int32, c.pool.Len()),
	}
	k.cache = c.pool.NewCache()
	c.mu.Lock()
	c.consumers = append(c.consumers, k)
	c.mu.Unlock()
	return k
}

// Name is the consumer's name.
func (k *Consumer) Name() string { return k.name }

// Owner is the consumer's owner id: frames it owns carry it in the pool.
func (k *Consumer) Owner() tap.Owner { return k.owner }

// Core is the core the consumer is attached to.
func (k *Consumer) Core() *Core { return k.c }

func (k *Consumer) hold(id tap.FrameID) { k.held[id].Add(1) }

// unhold gives up one of the consumer's references to id; false means
// there was none (Close reclaimed it), and the caller must not use the
// frame.
func (k *Consumer) unhold(id tap.FrameID) bool {
	h := &k.held[id]
	for {
		v := h.Load()
		if v <= 0 {
			return false
		}
		if h.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// Held is the number of frame references the consumer holds.
func (k *Consumer) Held() int {
	n := 0
	for i := range k.held {
		n += int(k.held[i].Load())
	}
	return n
}

// Reclaimed counts the references Close gave back for the consumer.
func (k *Consumer) Reclaimed() uint64 { return k.reclaimed.Load() }

// ErrNotHeld is returned by Adopt for a frame the consumer does not hold.
var ErrNotHeld = errors.New("capture: frame not held by this consumer")

// Adopt turns a frame id handed back from outside (a tap application's
// ring) into a Frame, after checking that the consumer really holds it.
// The reference stays the consumer's.
func (k *Consumer) Adopt(id tap.FrameID, dir Direction) (Frame, error) {
	if int(id) >= len(k.held) {
		return Frame{}, fmt.Errorf("%w: frame %d out of range", ErrNotHeld, id)
	}
	if k.held[id].Load() <= 0 {
		return Frame{}, fmt.Errorf("%w: frame %d", ErrNotHeld, id)
	}
	if dir != TX {
		dir = RX
	}
	return Frame{c: k.c, id: id, dir: dir, k: k}, nil
}

// AdoptEgress is Adopt for a frame the consumer took as an egress owner
// of port p (a tap application's output tap hands back only its id): the
// Frame's Revert lets it continue out of p, after the consumer's place
// among p's egress owners.
func (k *Consumer) AdoptEgress(id tap.FrameID, p *Port) (Frame, error) {
	f, err := k.Adopt(id, TX)
	if err != nil {
		return f, err
	}
	if p == nil || p.c != k.c {
		return Frame{}, errors.New("capture: AdoptEgress needs a port of the consumer's core")
	}
	f.eg = p
	return f, nil
}

// Alloc fills frames with empty frames owned by the consumer, from its own
// cache (the shared free list is touched once per batch), and returns how
// many it got: fewer than len(frames) when the pool runs short. Build each
// with Buffer and SetLen, then Send, Transmit or Inject it.
func (k *Consumer) Alloc(frames []Frame) int {
	if k.closed.Load() {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for n < len(frames) {
		id, err := k.cache.Alloc(k.owner)
		if err != nil {
			break
		}
		k.hold(id)
		frames[n] = Frame{c: k.c, id: id, dir: RX, k: k}
		n++
	}
	return n
}

// Subscribe adds a subscription on port p whose frames the consumer holds.
func (k *Consumer) Subscribe(p *Port, o SubscribeOptions) (*Subscription, error) {
	if p.c != k.c {
		return nil, errors.New("capture: port of another core")
	}
	if k.closed.Load() {
		return nil, ErrClosed
	}
	s, err := p.subscribe(o, k)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.subs = append(k.subs, s)
	k.mu.Unlock()
	return s, nil
}

// Close closes the consumer's subscriptions and gives every frame
// reference it still holds back to the pool. It returns how many it gave
// back (also in Reclaimed).
func (k *Consumer) Close() error {
	if k.closed.Swap(true) {
		return nil
	}
	k.mu.Lock()
	subs := k.subs
	k.subs = nil
	k.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	pool := k.c.pool
	var r tap.Releaser
	n := uint64(0)
	for i := range k.held {
		c := k.held[i].Swap(0)
		if c <= 0 {
			continue
		}
		id := tap.FrameID(i)
		if pool.Owner(id) == k.owner {
			pool.SetOwner(id, tap.OwnerCore)
		}
		for ; c > 0; c-- {
			r.Unref(pool, id)
			n++
		}
	}
	r.Flush(pool)
	k.mu.Lock()
	k.cache.Close()
	k.mu.Unlock()
	k.reclaimed.Add(n)
	k.c.mu.Lock()
	k.c.consumers = slices.DeleteFunc(k.c.consumers, func(x *Consumer) bool { return x == k })
	k.c.mu.Unlock()
	if n > 0 {
		k.c.log.Info("consumer closed holding frames; returned them to the pool", "consumer", k.name, "frames", n)
	}
	return nil
}

// ConsumerStats describe one consumer.
type ConsumerStats struct {
	Name      string
	Owner     tap.Owner
	Held      int
	Reclaimed uint64
}

// Consumers lists the attached consumers.
func (c *Core) Consumers() []ConsumerStats {
	c.mu.Lock()
	ks := slices.Clone(c.consumers)
	c.mu.Unlock()
	out := make([]ConsumerStats, 0, len(ks))
	for _, k := range ks {
		out = append(out, ConsumerStats{k.name, k.owner, k.Held(), k.reclaimed.Load()})
	}
	return out
}

// Sender sends byte slices through the core on one port: each is copied
// into a frame the consumer allocates, then transmitted onto the wire, or
// with inject, put into the port as if received (Port.Inject). It is what
// replay and tools that build frames in ordinary memory use; it has the
// Send method replay.Sender asks for.
type Sender struct {
	k      *Consumer
	port   *Port
	inject bool
}

// Sender returns a Sender on port p.
func (k *Consumer) Sender(p *Port, inject bool) *Sender {
	return &Sender{k: k, port: p, inject: inject}
}

// Send copies b into a pool frame and sends it.
func (s *Sender) Send(b []byte) error {
	var fs [1]Frame
	if s.k.Alloc(fs[:]) == 0 {
		if s.k.closed.Load() {
			return ErrClosed
		}
		return tap.ErrEmpty
	}
	f := fs[0]
	buf := f.Buffer()
	if len(b) > len(buf) {
		f.Release()
		return fmt.Errorf("frame of %d bytes exceeds the pool's %d byte frames", len(b), len(buf))
	}
	copy(buf, b)
	f.SetLen(len(b))
	if s.inject {
		return s.port.Inject(f)
	}
	return s.port.Transmit(f)
}
