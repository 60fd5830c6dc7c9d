package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wirebox/wirebox/tap"
	"golang.org/x/net/bpf"
)

// Mode is how a port is attached.
type Mode string

const (
	// Passive reads with AF_PACKET; the host stack keeps seeing the traffic.
	Passive Mode = "passive"
	// Bypass reads with AF_XDP; the appliance owns the port's traffic.
	Bypass Mode = "bypass"
)

// Direction is a frame's direction relative to its port; a bit set in
// subscription options.
type Direction uint8

const (
	// RX frames arrived on the port.
	RX Direction = 1 << iota
	// TX frames left through the port.
	TX
	// Both selects RX and TX.
	Both = RX | TX
)

func (d Direction) String() string {
	switch d {
	case RX:
		return "rx"
	case TX:
		return "tx"
	case Both:
		return "both"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// Kind is what a subscriber does with frames.
type Kind uint8

const (
	// ReadOnly subscribers hold a reference and only Release.
	ReadOnly Kind = iota
	// Owner subscribers take the frame and must Transmit, Revert or Release it.
	Owner
)

func (k Kind) String() string {
	if k == Owner {
		return "owner"
	}
	return "read-only"
}

// TimestampSource says which clock stamped a frame.
type TimestampSource uint8

const (
	TSNone     TimestampSource = iota
	TSHardware                 // NIC hardware (SO_TIMESTAMPING raw hardware)
	TSKernel                   // kernel receive time (TPACKET)
	TSXDP                      // XDP metadata from the driver
	TSEngine                   // the engine's clock at dequeue
	TSTransmit                 // handed to the kernel for transmission
)

func (s TimestampSource) String() string {
	switch s {
	case TSHardware:
		return "hardware"
	case TSKernel:
		return "kernel"
	case TSXDP:
		return "xdp"
	case TSEngine:
		return "engine"
	case TSTransmit:
		return "transmit"
	}
	return "none"
}

// Descriptor flag layout (tap descriptor flags, above tap.FlagUser).
const (
	flagDirShift = 8 // 2 bits of Direction
	flagTSShift  = 12
	flagTSMask   = 0xf
)

func frameFlags(dir Direction, src TimestampSource) uint32 {
	return uint32(dir)<<flagDirShift | uint32(src)<<flagTSShift
}

// Frame is a reference to one frame in the pool; see the package doc for
// the rules. The zero Frame is invalid.
type Frame struct {
	c   *Core
	id  tap.FrameID
	dir Direction // which event of the frame this reference is about
	// eg is set for a frame an egress owner holds: the port it is on its
	// way out of.
	eg *Port
	// k is the consumer holding the reference, nil for untracked ones.
	k *Consumer
}

// Queue entries carry the direction in the top bit of the FrameID.
const txBit = 1 << 31

func entry(id tap.FrameID, dir Direction) tap.FrameID {
	if dir == TX {
		return id | txBit
	}
	return id
}

func (c *Core) frameOf(e tap.FrameID) Frame {
	if e&txBit != 0 {
		return Frame{c: c, id: e &^ txBit, dir: TX}
	}
	return Frame{c: c, id: e, dir: RX}
}

// Valid reports whether f names a frame.
func (f Frame) Valid() bool { return f.c != nil }

// ID is the frame's pool index.
func (f Frame) ID() tap.FrameID { return f.id }

// Data is the frame's bytes: a slice into the pool, valid until released.
// Its capacity reaches the end of the pool frame, so a frame being built
// for transmission can be resliced and set with SetLen.
func (f Frame) Data() []byte { return f.c.pool.Data(f.id) }

// Buffer is the whole pool frame, for building a frame to transmit.
func (f Frame) Buffer() []byte { return f.c.pool.Buffer(f.id) }

// SetLen sets the data length (from offset 0 of Buffer) of a frame being
// built; the wire length becomes n too.
func (f Frame) SetLen(n int) { f.c.pool.SetData(f.id, 0, n, n) }

// WireLen is the frame's original length on the wire (Data may be shorter).
func (f Frame) WireLen() int { return f.c.pool.WireLen(f.id) }

// sent reports whether this reference is about our own transmission of
// the frame (as opposed to a frame seen leaving by a passive ring).
func (f Frame) sent() (int64, uint32, bool) {
	if f.dir != TX {
		return 0, 0, false
	}
	ts, port := f.c.pool.Tx(f.id)
	return ts, port, ts != 0
}

// Timestamp is the frame's stamp in nanoseconds on the core's Clock: when
// it was received, or for a TX reference when it was handed to the kernel.
func (f Frame) Timestamp() int64 {
	if ts, _, ok := f.sent(); ok {
		return ts
	}
	ts, _, _ := f.c.pool.Meta(f.id)
	return ts
}

// TimestampSource says where the stamp came from.
func (f Frame) TimestampSource() TimestampSource {
	if _, _, ok := f.sent(); ok {
		return TSTransmit
	}
	_, _, fl := f.c.pool.Meta(f.id)
	return TimestampSource(fl >> flagTSShift & flagTSMask)
}

// Direction is RX or TX: the event this reference is about. A forwarded
// frame is RX for subscribers of the port it came in on and TX for those
// of the port it left through.
func (f Frame) Direction() Direction { return f.dir }

// Port is the port the frame was received on, or for a TX reference the
// port it was sent through.
func (f Frame) Port() *Port {
	if f.eg != nil {
		return f.eg
	}
	if _, port, ok := f.sent(); ok {
		return f.c.portAt(port)
	}
	_, p, _ := f.c.pool.Meta(f.id)
	return f.c.portAt(p)
}

// Ref adds a reference: the returned Frame must be given up separately.
// It is held by the same consumer.
func (f Frame) Ref() Frame {
	f.c.pool.Ref(f.id)
	if f.k != nil {
		f.k.hold(f.id)
	}
	return f
}

// Consumer is the consumer holding this reference, nil if untracked.
func (f Frame) Consumer() *Consumer { return f.k }

// Egress reports whether the frame was handed to an egress owner: it is
// on its way out of Port, and Revert lets it continue.
func (f Frame) Egress() bool { return f.eg != nil }

// give takes the reference away from its consumer before it passes on;
// false means the consumer was closed and the reference already given
// back, so the frame must not be used.
func (f Frame) give() bool { return f.k == nil || f.k.unhold(f.id) }

// Release gives up this reference; the frame returns to the pool when the
// last one is released.
func (f Frame) Release() {
	if f.give() {
		f.c.pool.Unref(f.id)
	}
}

// ReleaseAll releases every frame of a batch (as Release each), handing
// the references back to the pool in one step without touching the frames'
// descriptors (tap.Releaser.Drop): the engine that allocates next drops
// the counts on its own core. Cheaper than one Release per frame for a
// reader that takes frames in batches.
func ReleaseAll(frames []Frame) {
	var r tap.Releaser
	var pool *tap.Pool
	for _, f := range frames {
		if f.c == nil || !f.give() {
			continue
		}
		if pool != nil && f.c.pool != pool {
			r.Flush(pool)
		}
		pool = f.c.pool
		r.Drop(pool, f.id)
	}
	if pool != nil {
		r.Flush(pool)
	}
}

// Revert gives an owned frame back: it continues to the next owner
// subscriber of its port, else takes the port's default action.
func (f Frame) Revert() {
	if f.eg != nil {
		if f.give() {
			f.eg.revertEgress(f.id)
		}
		return
	}
	p := f.Port()
	if p == nil || f.dir != RX {
		f.Release()
		return
	}
	if f.give() {
		p.revert(f.id)
	}
}

// Core is the capture/timestamp core: the pool, the clock and the ports.
type Core struct {
	pool  *tap.Pool
	clock *Clock
	log   *slog.Logger

	mu        sync.Mutex
	ports     atomic.Pointer[[]*Port] // index = port index in frame metadata
	closed    bool
	nextOwner atomic.Uint32

	// umemFds are the open AF_XDP sockets using the pool as UMEM; a new
	// socket shares the UMEM of the first one.
	umemMu  sync.Mutex
	umemFds []int

	// injectClsact makes injectors skip tcx (tests of the fallback).
	injectClsact bool

	// monitors follow link changes, one per network namespace with ports
	// (under mu); watchers get the resulting port events.
	monitors  map[string]*linkMonitor
	watchers  watchers
	consumers []*Consumer // under mu
}

// NewCore returns a core on pool. The core does not close the pool.
func NewCore(pool *tap.Pool, log *slog.Logger) *Core {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Core{pool: pool, clock: NewClock(), log: log, monitors: map[string]*linkMonitor{}}
	log.Info("buffer pool", "frames", pool.Len(), "frame_size", pool.FrameSize(), "pages", pool.Pages())
	c.ports.Store(&[]*Port{})
	c.nextOwner.Store(uint32(tap.OwnerCore) + 1)
	return c
}

// Pool is the core's buffer pool.
func (c *Core) Pool() *tap.Pool { return c.pool }

// Clock is the appliance clock all timestamps use.
func (c *Core) Clock() *Clock { return c.clock }

// Alloc takes an empty frame from the pool, owned by the caller, to build a
// frame for Transmit or Inject (set its length with SetLen).
func (c *Core) Alloc() (Frame, error) {
	id, err := c.pool.Alloc(tap.OwnerCore)
	if err != nil {
		return Frame{}, err
	}
	return Frame{c: c, id: id, dir: RX}, nil
}

func (c *Core) portAt(i uint32) *Port {
	ps := *c.ports.Load()
	if int(i) < len(ps) {
		return ps[i]
	}
	return nil
}

// Port returns the open port with that name, or nil.
func (c *Core) Port(name string) *Port {
	for _, p := range *c.ports.Load() {
		if p != nil && p.cfg.Name == name {
			return p
		}
	}
	return nil
}

// Ports lists the open ports.
func (c *Core) Ports() []*Port {
	var out []*Port
	for _, p := range *c.ports.Load() {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// ErrClosed is returned by operations on a closed core, port or subscription.
var ErrClosed = errors.New("capture: closed")

// countedError is an engine's transmit error already counted in the
// port's tx errors.
type countedError struct{ err error }

func (e countedError) Error() string { return e.err.Error() }
func (e countedError) Unwrap() error { return e.err }

// ErrDetached is returned when sending on a port whose engine is not
// running (its interface is absent, or the core is suspended).
var ErrDetached = errors.New("capture: port has no running engine")

// PortConfig configures a port.
type PortConfig struct {
	// Name is the network interface.
	Name string
	// Mode is Passive (default) or Bypass.
	Mode Mode
	// Queues is the number of engine queues (AF_PACKET fanout sockets, or
	// AF_XDP sockets on queue ids 0..Queues-1). Default 1.
	Queues int
	// NetNS is an optional network namespace path (e.g. /run/netns/x) in
	// which the interface lives.
	NetNS string
	// Forward names a port that receives, in bypass mode, every frame no
	// owner subscriber took.
	Forward string
	// RingBlocks and BlockSize size the AF_PACKET ring (defaults 64 x 1 MiB);
	// RingFrames sizes the AF_XDP rings (default 2048).
	RingBlocks, BlockSize, RingFrames int
	// TxSendmmsg makes a passive port transmit with sendmmsg instead of
	// its PACKET_TX_RING (for comparison).
	TxSendmmsg bool
	// BusyPoll, on a bypass port, sets SO_BUSY_POLL (microseconds) and
	// SO_PREFER_BUSY_POLL on its AF_XDP sockets, and the engine then
	// drives the device's NAPI poll itself with a receive call before it
	// waits; BusyPollBudget sets SO_BUSY_POLL_BUDGET (frames per poll;
	// kernel default 8). Options the kernel lacks are logged and skipped.
	BusyPoll, BusyPollBudget int
}

// OpenPort starts a port engine.
func (c *Core) OpenPort(cfg PortConfig) (*Port, error) {
	if cfg.Mode == "" {
		cfg.Mode = Passive
	}
	if cfg.Queues <= 0 {
		cfg.Queues = 1
	}
	if cfg.Forward == cfg.Name {
		return nil, fmt.Errorf("capture: port %s forwards to itself", cfg.Name)
	}
	if cfg.Mode != Passive && cfg.Mode != Bypass {
		return nil, fmt.Errorf("capture: port %s: unknown mode %q", cfg.Name, cfg.Mode)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.Port(cfg.Name) != nil {
		return nil, fmt.Errorf("capture: port %s already open", cfg.Name)
	}
	ps := *c.ports.Load()
	p := &Port{c: c, idx: uint32(len(ps)), cfg: cfg, deferred: tap.NewQueue(8192), ctlfd: -1}
	p.subs.Store(&subList{})
	if err := c.startMonitor(cfg.NetNS); err != nil {
		return nil, fmt.Errorf("capture: port %s: %w", cfg.Name, err)
	}
	if err := p.openCtl(); err != nil {
		return nil, fmt.Errorf("capture: port %s: %w", cfg.Name, err)
	}
	if err := p.attachLocked(); err != nil {
		p.closeCtl()
		return nil, fmt.Errorf("capture: open %s port %s: %w", cfg.Mode, cfg.Name, err)
	}
	nps := append(slices.Clip(ps), p)
	c.ports.Store(&nps)
	c.log.Info("port open", "port", cfg.Name, "mode", cfg.Mode, "queues", cfg.Queues)
	if m := c.monitors[cfg.NetNS]; m != nil { // c.mu is held: no refreshInfo
		p.refreshWith(m.h)
	}
	return p, nil
}

// attached reports whether the port has an engine.
func (p *Port) attached() bool { return p.hasEngine.Load() }

// engineStopped reports whether the engine's receive loop ended by itself.
func (p *Port) engineStopped() bool {
	p.engMu.Lock()
	defer p.engMu.Unlock()
	if p.runDone == nil {
		return false
	}
	select {
	case <-p.runDone:
		return true
	default:
		return false
	}
}

// attach starts the port's engine unless it runs.
func (p *Port) attach() error {
	p.engMu.Lock()
	defer p.engMu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	if p.eng != nil {
		return nil
	}
	return p.attachEngine()
}

// attachLocked is attach for OpenPort, before the port is published.
func (p *Port) attachLocked() error {
	p.engMu.Lock()
	defer p.engMu.Unlock()
	return p.attachEngine()
}

func (p *Port) attachEngine() error {
	eng, err := openEngine(p)
	if err != nil {
		return err
	}
	p.lastAttachErr.Store(nil)
	if idx, err := ifaceIndexIn(p.cfg.NetNS, p.cfg.Name); err == nil {
		p.ifindex.Store(int32(idx))
	}
	if p.detachedAt.set { // not on the first start: nothing missed, and OpenPort holds c.mu
		p.countMissed()
	}
	p.dispatch.Lock()
	p.eng = eng
	p.dispatch.Unlock()
	p.hasEngine.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	p.runCancel = cancel
	done := make(chan struct{})
	p.runDone = done
	go func() {
		defer close(done)
		eng.run(ctx)
	}()
	if p.attaches.Add(1) > 1 {
		p.c.log.Info("port engine started again", "port", p.cfg.Name)
	}
	return nil
}

// countMissed adds what the interface counted while no engine ran: from
// the detach if the interface is the same one, else from the new
// interface's start.
func (p *Port) countMissed() {
	p.detachedAt.set = false
	n, idx, ok := p.linkCounters()
	switch {
	case !ok:
	case idx == p.detachedAt.ifindex && n >= p.detachedAt.packets:
		p.missed.Add(n - p.detachedAt.packets)
	case idx != p.detachedAt.ifindex:
		p.missed.Add(n)
	}
}

// detach stops the port's engine and releases what it holds; the port,
// its subscriptions and its counters stay.
func (p *Port) detach(reason string) {
	p.engMu.Lock()
	defer p.engMu.Unlock()
	p.detachEngine(reason)
}

func (p *Port) detachEngine(reason string) {
	if p.eng == nil {
		return
	}
	p.runCancel()
	<-p.runDone
	if n, idx, ok := p.linkCounters(); ok {
		p.detachedAt.packets, p.detachedAt.ifindex, p.detachedAt.set = n, idx, true
	}
	p.dispatch.Lock()
	eng := p.eng
	p.dropsBase.Add(eng.kernelDrops())
	err := eng.close()
	p.eng = nil
	p.hasEngine.Store(false)
	p.drainDeferred() // transmit sees no engine and releases them
	p.dispatch.Unlock()
	p.detaches.Add(1)
	if err != nil {
		p.c.log.Warn("port engine closed with an error", "port", p.cfg.Name, "err", err)
	}
	p.c.log.Info("port engine stopped", "port", p.cfg.Name, "reason", reason)
}

// Suspend stops every port's engine but keeps the ports, their
// subscriptions and counters: consumers stay attached and see nothing
// until Resume. The core service does this when it stops, so a restart of
// the service keeps every consumer's handle.
func (c *Core) Suspend() {
	for _, p := range c.Ports() {
		p.suspended.Store(true)
		p.detach("core suspended")
		p.refreshInfo()
	}
}

// Resume starts the engines Suspend stopped. A port whose interface is
// absent stays detached and starts when the interface appears.
func (c *Core) Resume() {
	for _, p := range c.Ports() {
		p.suspended.Store(false)
		if err := p.attach(); err != nil {
			p.noteAttachError(err)
		}
		p.refreshInfo()
	}
}

// Close closes every port.
func (c *Core) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	var errs []error
	ports := c.Ports()
	for _, p := range ports {
		errs = append(errs, p.Close())
	}
	// A frame forwarded into a port while it was closing may have reached
	// its deferred queue after its own drain; no engine runs now.
	for _, p := range ports {
		p.drainDeferred()
	}
	c.mu.Lock()
	ms := c.monitors
	c.monitors = map[string]*linkMonitor{}
	c.mu.Unlock()
	for _, m := range ms {
		m.stop()
	}
	return errors.Join(errs...)
}

// engine is one port's data path (AF_PACKET or AF_XDP).
type engine interface {
	// run receives until ctx is done, calling Port.received per frame.
	run(ctx context.Context)
	// transmit sends an owned frame and gives up its reference. With
	// flush false the engine may hold the frame until the next flush (or
	// a batch is full), so a forwarding loop pays one kick per batch.
	transmit(id tap.FrameID, flush bool) error
	// flush hands held frames to the kernel.
	flush()
	// kernelDrops reports frames the kernel dropped so far (cumulative).
	kernelDrops() uint64
	// linkUp reports the interface's link state.
	linkUp() bool
	// close releases sockets, rings and every frame the engine holds.
	close() error
}

// Port is one open port.
type Port struct {
	c   *Core
	idx uint32
	cfg PortConfig

	// The engine comes and goes (interface deleted and back, core
	// suspended); engMu serialises that, and eng changes only under
	// dispatch's write lock, so holders of dispatch can use it.
	engMu     sync.Mutex
	eng       engine
	hasEngine atomic.Bool
	runCancel context.CancelFunc
	runDone   chan struct{}
	suspended atomic.Bool
	ifindex   atomic.Int32
	ctlMu     sync.Mutex // guards ctlfd
	ctlfd     int
	info      atomic.Pointer[PortInfo]
	// detachedAt is the interface's packet count when the engine stopped.
	detachedAt struct {
		packets uint64
		ifindex int
		set     bool
	}
	lastAttachErr                         atomic.Pointer[string]
	attaches, detaches, missed, dropsBase atomic.Uint64

	// dispatch is held for reading while frames are offered to
	// subscribers; Subscription.Close takes it for writing once to know no
	// frame is still being queued to it.
	dispatch sync.RWMutex
	subMu    sync.Mutex
	subs     atomic.Pointer[subList]
	closed   atomic.Bool
	fwd      atomic.Pointer[Port]
	deferred *tap.Queue // frames forwarded here while dispatch was held (see forwardTo)

	// inj hands Inject's frames to the kernel (passive ports), made on
	// first use; injMu is held for reading while sending.
	injMu sync.RWMutex
	inj   *injector

	_                                      [64]byte // counters on their own cache lines
	rxPackets, rxBytes, txPackets, txBytes atomic.Uint64
	rxDroppedPool, txErrors, unclaimed     atomic.Uint64
	txKicks, sockErrors                    atomic.Uint64
	tsSource                               atomic.Uint32
}

type subList struct {
	readOnly []*Subscription
	owners   []*Subscription // ingress owners, in Order
	egress   []*Subscription // egress owners, in Order
}

// Name is the interface name.
func (p *Port) Name() string { return p.cfg.Name }

// Mode is the port's mode.
func (p *Port) Mode() Mode { return p.cfg.Mode }

// NetNS is the path of the port's network namespace ("" for the core's
// own), for subsystems that ask the kernel about the interface (the RMON
// probe reads the NIC's own counters over ethtool netlink).
func (p *Port) NetNS() string { return p.cfg.NetNS }

// Core is the core the port belongs to.
func (p *Port) Core() *Core { return p.c }

// stamp fills in the metadata of a frame about to be dispatched.
func (p *Port) stamp(id tap.FrameID, ts int64, src TimestampSource, dir Direction) {
	p.c.pool.SetMeta(id, ts, p.idx, frameFlags(dir, src))
}

// received is called by engines for each new frame (one reference, owned
// by the core, metadata set). The caller holds p.dispatch for reading.
func (p *Port) received(id tap.FrameID, dir Direction, src TimestampSource) {
	var b batch
	p.receivedBatch(id, dir, src, &b)
	p.commit(&b)
}

// batch accumulates an engine's counters over one receive batch, so the
// shared atomics are touched once per batch instead of once per frame.
type batch struct {
	rxPackets, rxBytes, txPackets, txBytes uint64
	unclaimed                              uint64
	src                                    TimestampSource
	// stage, when an engine sets it, gathers the read-only subscribers'
	// queue entries of the batch: each queue is then pushed once per batch
	// (one step on its shared tail) instead of once per frame.
	stage *stage
}

// stage holds queue entries per subscriber until the batch commits; each
// entry holds a reference. Readers are woken after the commit anyway.
type stage struct {
	subs    []*Subscription
	entries [][]tap.FrameID
}

// stageSize bounds the entries held per subscriber before an early push.
const stageSize = 256

func newStage() *stage { return &stage{} }

func (st *stage) add(pool *tap.Pool, s *Subscription, e tap.FrameID) {
	i := 0
	for i < len(st.subs) && st.subs[i] != s {
		i++
	}
	if i == len(st.subs) {
		st.subs = append(st.subs, s)
		if i < len(st.entries) {
			st.entries[i] = st.entries[i][:0]
		} else {
			st.entries = append(st.entries, make([]tap.FrameID, 0, stageSize))
		}
	}
	st.entries[i] = append(st.entries[i], e)
	if len(st.entries[i]) == stageSize {
		st.push(pool, i)
	}
}

// push moves subscriber i's entries into its queue; what does not fit is
// dropped, counted in the subscriber's Dropped.
func (st *stage) push(pool *tap.Pool, i int) {
	s, es := st.subs[i], st.entries[i]
	if len(es) == 0 {
		return
	}
	n := s.q.PushN(es)
	s.delivered.Add(uint64(n))
	if n < len(es) {
		s.dropped.Add(uint64(len(es) - n))
		var r tap.Releaser
		for _, e := range es[n:] {
			r.Unref(pool, e&^txBit)
		}
		r.Flush(pool)
	}
	st.entries[i] = es[:0]
}

func (st *stage) flush(pool *tap.Pool) {
	for i := range st.subs {
		st.push(pool, i)
		st.subs[i] = nil
	}
	st.subs = st.subs[:0]
}

// receivedBatch is received with the counting deferred to commit.
func (p *Port) receivedBatch(id tap.FrameID, dir Direction, src TimestampSource, b *batch) {
	n := uint64(p.c.pool.WireLen(id))
	if dir == TX {
		b.txPackets++
		b.txBytes += n
	} else {
		b.rxPackets++
		b.rxBytes += n
	}
	b.src = src
	p.fanOut(id, dir, b)
}

// commit queues a batch's staged entries, adds its counts to the port and
// resets it. The caller holds p.dispatch for reading.
func (p *Port) commit(b *batch) {
	if b.stage != nil {
		b.stage.flush(p.c.pool)
	}
	if b.unclaimed > 0 {
		p.unclaimed.Add(b.unclaimed)
	}
	if b.rxPackets > 0 {
		p.rxPackets.Add(b.rxPackets)
		p.rxBytes.Add(b.rxBytes)
	}
	if b.txPackets > 0 {
		p.txPackets.Add(b.txPackets)
		p.txBytes.Add(b.txBytes)
	}
	if b.src != TSNone && TimestampSource(p.tsSource.Load()) != b.src {
		p.tsSource.Store(uint32(b.src))
	}
	*b = batch{stage: b.stage}
}

// fanOut offers a frame to the subscribers. The caller's reference is
// consumed. The caller holds p.dispatch for reading.
func (p *Port) fanOut(id tap.FrameID, dir Direction, b *batch) {
	l := p.subs.Load()
	pool := p.c.pool
	// When nothing needs the frame after the read-only subscribers (TX, or
	// no owner and no forwarding), the last of them gets the caller's own
	// reference: with one subscriber the engine then touches no reference
	// count at all. Each earlier one gets a new reference before it is
	// queued (the reader may release it at once).
	handOver := dir != RX || (len(l.owners) == 0 && (p.cfg.Mode != Bypass || p.cfg.Forward == ""))
	var data []byte
	var pending *Subscription
	for _, s := range l.readOnly {
		if s.dir&dir == 0 {
			continue
		}
		if s.filtered {
			if data == nil {
				data = pool.Data(id)
			}
			if !s.match(data) {
				continue
			}
		}
		if pending != nil {
			pending.queueRef(pool, id, dir, b.stage)
		}
		pending = s
	}
	if pending != nil && b.stage != nil && handOver {
		// The staged entry takes the caller's reference; if the queue
		// turns out full at commit it is released, which is what the
		// default action would do with it.
		b.stage.add(pool, pending, entry(id, dir))
		if dir == RX && p.cfg.Mode == Bypass {
			b.unclaimed++
		}
		return
	}
	if pending != nil {
		if !handOver {
			pending.queueRef(pool, id, dir, b.stage)
		} else if pending.q.Push(entry(id, dir)) {
			pending.delivered.Add(1)
			if dir == RX && p.cfg.Mode == Bypass {
				p.unclaimed.Add(1)
			}
			return // the reference went with it
		} else {
			pending.dropped.Add(1)
		}
	}
	if dir != RX {
		pool.Unref(id)
		return
	}
	p.offerOwners(l, id, 0)
}

// queueRef queues a new reference to the frame (staged if st is set), or
// counts a drop.
func (s *Subscription) queueRef(pool *tap.Pool, id tap.FrameID, dir Direction, st *stage) {
	pool.Ref(id)
	if st != nil {
		st.add(pool, s, entry(id, dir))
		return
	}
	if !s.q.Push(entry(id, dir)) {
		pool.Unref(id)
		s.dropped.Add(1)
		return
	}
	s.delivered.Add(1)
}

// offerOwners gives an RX frame to the first matching owner from index i on,
// else takes the default action.
func (p *Port) offerOwners(l *subList, id tap.FrameID, i int) {
	pool := p.c.pool
	for ; i < len(l.owners); i++ {
		s := l.owners[i]
		if s.dir&RX == 0 || (s.filtered && !s.match(pool.Data(id))) {
			continue
		}
		pool.SetOwner(id, s.owner)
		if s.q.Push(id) {
			s.delivered.Add(1)
			return
		}
		s.dropped.Add(1)
		pool.SetOwner(id, tap.OwnerCore)
		break
	}
	p.defaultAction(id)
}

// wakeSubscribers wakes subscribers blocked in Receive. Engines call it
// once per receive batch rather than once per frame: a reader that keeps
// up would otherwise cost a futex wake-up per frame.
func (p *Port) wakeSubscribers() {
	l := p.subs.Load()
	for _, s := range l.readOnly {
		s.wake()
	}
	for _, s := range l.owners {
		s.wake()
	}
}

// defaultAction handles an RX frame nobody took.
func (p *Port) defaultAction(id tap.FrameID) {
	pool := p.c.pool
	pool.SetOwner(id, tap.OwnerCore)
	if p.cfg.Mode == Bypass && p.cfg.Forward != "" {
		if fp := p.forwardPort(); fp != nil {
			p.forwardTo(fp, id)
			return
		}
	}
	if p.cfg.Mode == Bypass {
		p.unclaimed.Add(1)
	}
	pool.Unref(id)
}

// forwardTo transmits a frame on fp (flushed after the batch). The caller
// holds p.dispatch for reading, so it must not wait for fp.dispatch: with a
// subscription Close pending on each of two ports that forward into each
// other, both engines would wait for each other. When fp is held that way
// the frame waits in fp's deferred queue, sent with fp's next flush.
func (p *Port) forwardTo(fp *Port, id tap.FrameID) {
	if fp.dispatch.TryRLock() {
		fp.drainDeferred()
		_ = fp.send(id, false, 0) // counted in fp's tx or txErrors
		fp.dispatch.RUnlock()
		return
	}
	if fp.closed.Load() || !fp.deferred.Push(id) {
		fp.txErrors.Add(1)
		p.c.pool.Unref(id)
	}
}

// drainDeferred transmits frames forwarded while p was held; the caller
// holds p.dispatch for reading.
func (p *Port) drainDeferred() {
	for {
		id, ok := p.deferred.Pop()
		if !ok {
			return
		}
		_ = p.send(id, false, 0)
	}
}

func (p *Port) revert(id tap.FrameID) {
	p.dispatch.RLock()
	defer p.dispatch.RUnlock()
	l := p.subs.Load()
	o := p.c.pool.Owner(id)
	defer p.wakeSubscribers()
	for i, s := range l.owners {
		if s.owner == o {
			p.offerOwners(l, id, i+1)
			return
		}
	}
	p.defaultAction(id)
}

// Transmit sends an owned frame out of the port; the reference passes to
// the port whether or not sending succeeds. Use Send for many frames.
func (p *Port) Transmit(f Frame) error {
	if f.c != p.c {
		f.Release()
		return errors.New("capture: frame from another core")
	}
	if !f.give() {
		return ErrClosed
	}
	p.dispatch.RLock()
	defer p.dispatch.RUnlock()
	defer p.wakeSubscribers() // TX subscribers
	return p.send(f.id, true, 0)
}

// Send sends owned frames out of the port in order, handing them to the
// kernel in as few system calls as the engine allows (one per batch: on a
// passive port one sendto per 1,024 frames, which the kernel sends from
// the port's PACKET_TX_RING; on a bypass port one kick per TX ring, or
// per 32 frames in AF_XDP copy mode, the kernel's limit). Every
// reference passes to the port whether or not sending succeeds. It
// returns how many frames were handed to the engine and the first error.
// Egress owners of the port see each frame before it leaves.
func (p *Port) Send(frames []Frame) (int, error) {
	p.dispatch.RLock()
	defer p.dispatch.RUnlock()
	defer p.wakeSubscribers()
	sent := 0
	var first error
	for _, f := range frames {
		var err error
		switch {
		case f.c != p.c:
			f.Release()
			err = errors.New("capture: frame from another core")
		case !f.give():
			err = ErrClosed
		default:
			err = p.send(f.id, false, 0)
		}
		if err == nil {
			sent++
		} else if first == nil {
			first = err
		}
	}
	if p.eng != nil {
		p.eng.flush()
	}
	return sent, first
}

// send offers a frame about to leave the port to its egress owners from
// index i on, and transmits it when none takes it. The caller holds
// p.dispatch for reading.
func (p *Port) send(id tap.FrameID, flush bool, i int) error {
	l := p.subs.Load()
	pool := p.c.pool
	for ; i < len(l.egress); i++ {
		s := l.egress[i]
		if s.filtered && !s.match(pool.Data(id)) {
			continue
		}
		pool.SetOwner(id, s.owner)
		if s.q.Push(id) {
			s.delivered.Add(1)
			s.wake()
			return nil
		}
		s.dropped.Add(1)
		pool.SetOwner(id, tap.OwnerCore)
		break
	}
	return p.transmit(id, flush)
}

// revertEgress lets a frame an egress owner gave back continue out of the
// port: to the next egress owner, else to the engine.
func (p *Port) revertEgress(id tap.FrameID) {
	p.dispatch.RLock()
	defer p.dispatch.RUnlock()
	defer p.wakeSubscribers()
	l := p.subs.Load()
	o := p.c.pool.Owner(id)
	next := 0
	for i, s := range l.egress {
		if s.owner == o {
			next = i + 1
			break
		}
	}
	_ = p.send(id, true, next)
}

// forwardPort is the open port named by Forward, looked up once and then
// cached while it stays open (ports may open in any order).
func (p *Port) forwardPort() *Port {
	if fp := p.fwd.Load(); fp != nil && !fp.closed.Load() {
		return fp
	}
	fp := p.c.Port(p.cfg.Forward)
	p.fwd.Store(fp)
	return fp
}

// flushForward hands frames forwarded during a receive batch to the kernel.
func (p *Port) flushForward() {
	if p.cfg.Forward == "" {
		return
	}
	if fp := p.forwardPort(); fp != nil && !fp.closed.Load() {
		fp.dispatch.RLock()
		fp.drainDeferred()
		if fp.eng != nil {
			fp.eng.flush()
		}
		fp.wakeSubscribers() // its TX subscribers
		fp.dispatch.RUnlock()
	}
}

func (p *Port) transmit(id tap.FrameID, flush bool) error {
	if p.closed.Load() {
		p.c.pool.Unref(id)
		return ErrClosed
	}
	if p.eng == nil {
		p.txErrors.Add(1)
		p.c.pool.Unref(id)
		return ErrDetached
	}
	p.c.pool.SetOwner(id, tap.OwnerCore)
	if err := p.eng.transmit(id, flush); err != nil {
		if !errors.As(err, new(countedError)) {
			p.txErrors.Add(1)
		}
		return fmt.Errorf("capture: transmit on %s: %w", p.cfg.Name, err)
	}
	return nil
}

// transmitted is called by engines that see their own transmissions only
// here (bypass), just before handing the frame to the kernel: record the
// transmit stamp and dispatch a TX reference. The caller keeps its own.
func (p *Port) transmitted(id tap.FrameID) {
	p.c.pool.SetTx(id, p.c.clock.Now(), p.idx)
	p.c.pool.Ref(id)
	p.received(id, TX, TSTransmit)
}

// Inject puts an owned frame into the port as if it had been received;
// the reference passes to the port whether or not that succeeds.
//
// On a passive port the frame enters the kernel's receive path of the
// interface (through the port's injector, see inject_linux.go): the host
// stack processes it (a socket bound there gets it, ARP and ICMP are
// answered) and the port's engine sees it as any received frame, so every
// subscriber gets it once as RX with the kernel's stamp, counted in
// rx_packets. Errors the kernel finds after accepting the frame (the port
// is down, its backlog is full) are not reported.
//
// A bypass port's traffic never reaches the host stack, so "as if
// received" there means what the engine does with a received frame: the
// frame goes to the port's fan-out (subscribers, owners, forwarding),
// stamped now by the engine clock.
func (p *Port) Inject(f Frame) error {
	if f.c != p.c {
		f.Release()
		return errors.New("capture: frame from another core")
	}
	if !f.give() {
		return ErrClosed
	}
	f.k = nil
	if p.closed.Load() {
		f.Release()
		return ErrClosed
	}
	if p.cfg.Mode == Passive {
		return p.injectHost(f)
	}
	p.c.pool.SetOwner(f.id, tap.OwnerCore)
	p.stamp(f.id, p.c.clock.Now(), TSEngine, RX)
	p.dispatch.RLock()
	p.received(f.id, RX, TSEngine)
	p.wakeSubscribers()
	p.dispatch.RUnlock()
	return nil
}

// injectHost sends f through the port's injector, made on first use.
func (p *Port) injectHost(f Frame) error {
	defer f.Release()
	p.injMu.RLock()
	inj := p.inj
	if inj == nil {
		p.injMu.RUnlock()
		p.injMu.Lock()
		if p.closed.Load() {
			p.injMu.Unlock()
			return ErrClosed
		}
		if p.inj == nil {
			var err error
			if p.inj, err = openInjector(p, p.c.injectClsact); err != nil {
				p.injMu.Unlock()
				return err
			}
		}
		p.injMu.Unlock()
		p.injMu.RLock()
		inj = p.inj
	}
	defer p.injMu.RUnlock()
	if inj == nil { // closed meanwhile
		return ErrClosed
	}
	if err := inj.send(f.Data()); err != nil {
		p.txErrors.Add(1)
		return fmt.Errorf("capture: inject on %s: %w", p.cfg.Name, err)
	}
	return nil
}

// Close stops the engine, closes every subscription and releases every
// frame the port holds.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.engMu.Lock()
	defer p.engMu.Unlock()
	if p.eng != nil {
		p.runCancel()
		<-p.runDone
	}
	p.subMu.Lock()
	l := p.subs.Load()
	all := append(slices.Clone(l.readOnly), l.owners...)
	all = append(all, l.egress...)
	p.subMu.Unlock()
	for _, s := range all {
		s.Close()
	}
	var err error
	p.dispatch.Lock()
	if p.eng != nil {
		p.dropsBase.Add(p.eng.kernelDrops())
		err = p.eng.close()
		p.eng = nil
		p.hasEngine.Store(false)
	}
	p.drainDeferred() // transmit sees the port closed and releases them
	p.dispatch.Unlock()
	p.closeCtl()
	p.c.watchers.send(PortEvent{Port: p.cfg.Name, Info: p.Info(), Removed: true})
	p.injMu.Lock()
	if p.inj != nil {
		err = errors.Join(err, p.inj.close())
		p.inj = nil
	}
	p.injMu.Unlock()
	p.c.mu.Lock()
	ps := slices.Clone(*p.c.ports.Load())
	ps[p.idx] = nil
	p.c.ports.Store(&ps)
	p.c.mu.Unlock()
	return err
}

// SubscribeOptions configures a subscription.
type SubscribeOptions struct {
	// Name identifies the subscriber in statistics.
	Name string
	// Kind is ReadOnly or Owner.
	Kind Kind
	// Direction selects RX, TX or Both (default RX). Owners get RX only.
	Direction Direction
	// Queue is the bounded queue length (default 4096).
	Queue int
	// Filter is a classic BPF program (as compiled for tcpdump -ddd or
	// golang.org/x/net/bpf) the engine runs on each frame; a zero result
	// rejects the frame.
	Filter []bpf.RawInstruction
	// Match is an optional Go predicate run after Filter. It must be fast,
	// must not keep data, and must be safe for concurrent calls.
	Match func(data []byte) bool
	// Hook is where an owner takes frames: Ingress (default), frames the
	// port received, before forwarding; or Egress, frames about to leave
	// the port through the core (Send, Transmit, forwarding from another
	// port), before the engine sends them. Read-only subscribers choose
	// with Direction instead.
	Hook Hook
	// Exclusive makes an owner the only owner of its hook on the port:
	// it is refused (ErrBusy) while another owner is there, and others are
	// refused while it is.
	Exclusive bool
	// Order places an owner among the owners of its hook (lowest first;
	// equal orders keep subscription order). A frame an owner reverts goes
	// on to the next owner in this order, as NetTap's chained taps do.
	Order int
}

// Hook is where on a port's path an owner subscriber takes frames.
type Hook uint8

const (
	// Ingress owners take received frames before the default action.
	Ingress Hook = iota
	// Egress owners take frames about to be sent on the port.
	Egress
)

func (h Hook) String() string {
	if h == Egress {
		return "egress"
	}
	return "ingress"
}

// ErrBusy is returned when an exclusive owner holds the hook, or when an
// exclusive owner asks for a hook that has owners.
var ErrBusy = errors.New("capture: port is held by an exclusive owner")

// Subscription is one subscriber's queue on a port.
type Subscription struct {
	p         *Port
	k         *Consumer // holds the frames received; nil: untracked
	name      string
	kind      Kind
	dir       Direction
	hook      Hook
	exclusive bool
	order     int
	owner     tap.Owner
	q         *tap.Queue
	vm        *bpf.VM
	pred      func([]byte) bool
	filtered  bool

	delivered, dropped atomic.Uint64
	waiting            atomic.Bool
	notify             chan struct{}
	closed             atomic.Bool
	closedSeen         bool // set under p.dispatch's write lock once no dispatch can reach s
}

// Subscribe adds a subscriber to the port whose frames are not recorded
// against a consumer: the caller gives up every frame it receives. Services
// use Consumer.Subscribe, so that what they hold is reclaimed when they end.
func (p *Port) Subscribe(o SubscribeOptions) (*Subscription, error) {
	return p.subscribe(o, nil)
}

func (p *Port) subscribe(o SubscribeOptions, k *Consumer) (*Subscription, error) {
	if o.Direction == 0 {
		o.Direction = RX
	}
	if o.Kind == Owner && o.Direction&TX != 0 {
		return nil, fmt.Errorf("capture: subscriber %q: owners choose Hook, not Direction TX", o.Name)
	}
	if o.Kind != Owner && (o.Hook != Ingress || o.Exclusive) {
		return nil, fmt.Errorf("capture: subscriber %q: Hook and Exclusive are for owners", o.Name)
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	s := &Subscription{
		p: p, k: k, name: o.Name, kind: o.Kind, dir: o.Direction,
		hook: o.Hook, exclusive: o.Exclusive, order: o.Order,
		q:      tap.NewQueue(o.Queue),
		pred:   o.Match,
		notify: make(chan struct{}, 1),
	}
	if k != nil {
		s.owner = k.owner
	} else {
		s.owner = tap.Owner(p.c.nextOwner.Add(1))
	}
	if len(o.Filter) > 0 {
		ins := make([]bpf.Instruction, len(o.Filter))
		for i, r := range o.Filter {
			ins[i] = r.Disassemble()
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			return nil, fmt.Errorf("capture: subscriber %q: filter: %w", o.Name, err)
		}
		s.vm = vm
	}
	s.filtered = s.vm != nil || s.pred != nil
	p.subMu.Lock()
	defer p.subMu.Unlock()
	if p.closed.Load() {
		return nil, ErrClosed
	}
	old := p.subs.Load()
	nl := &subList{readOnly: old.readOnly, owners: old.owners, egress: old.egress}
	switch {
	case o.Kind != Owner:
		nl.readOnly = append(slices.Clip(old.readOnly), s)
	case o.Hook == Egress:
		l, err := addOwner(old.egress, s)
		if err != nil {
			return nil, err
		}
		nl.egress = l
	default:
		l, err := addOwner(old.owners, s)
		if err != nil {
			return nil, err
		}
		nl.owners = l
	}
	p.subs.Store(nl)
	return s, nil
}

// addOwner places s among the owners of one hook, by Order.
func addOwner(l []*Subscription, s *Subscription) ([]*Subscription, error) {
	for _, x := range l {
		if x.exclusive || s.exclusive {
			return nil, fmt.Errorf("%w: %s owner %q holds port %s", ErrBusy, s.hook, x.name, s.p.cfg.Name)
		}
	}
	nl := append(slices.Clone(l), s)
	slices.SortStableFunc(nl, func(a, b *Subscription) int { return a.order - b.order })
	return nl, nil
}

func (s *Subscription) match(data []byte) bool {
	if s.vm != nil {
		if n, err := s.vm.Run(data); err != nil || n == 0 {
			return false
		}
	}
	return s.pred == nil || s.pred(data)
}

func (s *Subscription) wake() {
	if s.waiting.Load() {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// Name is the subscriber's name.
func (s *Subscription) Name() string { return s.name }

// TryReceive moves queued frames into frames without blocking and returns
// how many. The caller owns each returned reference.
func (s *Subscription) TryReceive(frames []Frame) int {
	// Entries come off the queue in runs (one step on its head per run).
	var ids [64]tap.FrameID
	n := 0
	for n < len(frames) {
		k := s.q.PopN(ids[:min(len(ids), len(frames)-n)])
		if k == 0 {
			break
		}
		for _, id := range ids[:k] {
			f := s.p.c.frameOf(id)
			if s.hook == Egress {
				f.eg, f.dir = s.p, TX
			}
			if s.k != nil {
				f.k = s.k
				s.k.hold(f.id)
			}
			frames[n] = f
			n++
		}
	}
	return n
}

// Receive waits until at least one frame is queued (or ctx is done, or the
// subscription closes) and moves up to len(frames) into frames.
func (s *Subscription) Receive(ctx context.Context, frames []Frame) (int, error) {
	if len(frames) == 0 {
		return 0, nil
	}
	for {
		if n := s.TryReceive(frames); n > 0 {
			return n, nil
		}
		if s.closed.Load() {
			return 0, ErrClosed
		}
		s.waiting.Store(true)
		if n := s.TryReceive(frames); n > 0 {
			s.waiting.Store(false)
			return n, nil
		}
		select {
		case <-s.notify:
			s.waiting.Store(false)
		case <-ctx.Done():
			s.waiting.Store(false)
			return 0, ctx.Err()
		}
	}
}

// SubscriberStats are one subscriber's counters.
type SubscriberStats struct {
	Name      string
	Kind      Kind
	Hook      Hook
	Exclusive bool
	Delivered uint64
	Dropped   uint64
	Queued    int
}

// Stats returns the subscriber's counters.
func (s *Subscription) Stats() SubscriberStats {
	return SubscriberStats{Name: s.name, Kind: s.kind, Hook: s.hook, Exclusive: s.exclusive,
		Delivered: s.delivered.Load(), Dropped: s.dropped.Load(), Queued: s.q.Len()}
}

// Close removes the subscription and releases every frame still queued.
// Frames the caller already received stay the caller's to give up.
func (s *Subscription) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	p := s.p
	p.subMu.Lock()
	old := p.subs.Load()
	pos := slices.Index(old.owners, s)
	if s.hook == Egress {
		pos = slices.Index(old.egress, s)
	}
	pos = max(pos, 0)
	nl := &subList{
		readOnly: slices.DeleteFunc(slices.Clone(old.readOnly), func(x *Subscription) bool { return x == s }),
		owners:   slices.DeleteFunc(slices.Clone(old.owners), func(x *Subscription) bool { return x == s }),
		egress:   slices.DeleteFunc(slices.Clone(old.egress), func(x *Subscription) bool { return x == s }),
	}
	p.subs.Store(nl)
	p.subMu.Unlock()
	// Wait for dispatches that may still see the old list; after this no
	// frame can be queued to s any more.
	p.dispatch.Lock()
	s.closedSeen = true
	p.dispatch.Unlock()
	// Frames still queued: a read-only subscriber's references are
	// dropped; an owner's frames go on their way as if it had reverted
	// them, so traffic continues as though it had never been there.
	for {
		e, ok := s.q.Pop()
		if !ok {
			break
		}
		id := e &^ txBit
		if s.kind != Owner {
			p.c.pool.Unref(id)
			continue
		}
		p.c.pool.SetOwner(id, tap.OwnerCore)
		p.dispatch.RLock()
		if s.hook == Egress {
			_ = p.send(id, true, pos)
		} else {
			p.offerOwners(p.subs.Load(), id, pos)
		}
		p.dispatch.RUnlock()
	}
	select {
	case s.notify <- struct{}{}: // wake a blocked Receive
	default:
	}
	return nil
}

// PortStats are a port's counters.
type PortStats struct {
	Name            string
	Mode            Mode
	RxPackets       uint64
	RxBytes         uint64
	TxPackets       uint64
	TxBytes         uint64
	TxErrors        uint64
	RxDroppedKernel uint64
	RxDroppedPool   uint64
	Unclaimed       uint64
	TimestampSource TimestampSource
	LinkUp          bool
	// Attached reports whether the engine runs; EngineStarts counts its
	// starts (1 for a port that never lost its engine).
	Attached     bool
	EngineStarts uint64
	// Missed counts frames the interface itself counted (both
	// directions) while the port's engine was not running.
	Missed uint64
	// TxKicks counts the system calls that handed transmitted frames to
	// the kernel: one per batch, not one per frame.
	TxKicks     uint64
	Subscribers []SubscriberStats
}

// Stats returns the port's counters.
func (p *Port) Stats() PortStats {
	st := PortStats{
		Name: p.cfg.Name, Mode: p.cfg.Mode,
		RxPackets: p.rxPackets.Load(), RxBytes: p.rxBytes.Load(),
		TxPackets: p.txPackets.Load(), TxBytes: p.txBytes.Load(),
		TxErrors:      p.txErrors.Load(),
		RxDroppedPool: p.rxDroppedPool.Load(), Unclaimed: p.unclaimed.Load(),
		TimestampSource: TimestampSource(p.tsSource.Load()),
	}
	st.RxDroppedKernel = p.dropsBase.Load()
	p.dispatch.RLock()
	if p.eng != nil {
		st.RxDroppedKernel += p.eng.kernelDrops()
		if !p.closed.Load() {
			st.LinkUp = p.eng.linkUp()
		}
	}
	p.dispatch.RUnlock()
	st.Attached = p.attached()
	st.Missed = p.missed.Load()
	st.EngineStarts = p.attaches.Load()
	st.TxKicks = p.txKicks.Load()
	l := p.subs.Load()
	for _, s := range slices.Concat(l.readOnly, l.owners, l.egress) {
		st.Subscribers = append(st.Subscribers, s.Stats())
	}
	return st
}
