package capture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/wirebox/wirebox/tap"
	"golang.org/x/sys/unix"
)

// xdpEngine is the bypass engine: one AF_XDP socket per queue, all sharing
// the pool as their UMEM, fed by an XDP program that redirects every frame
// of the port into the XSKMAP.
type xdpEngine struct {
	p       *Port
	ifindex int
	socks   []*xsk
	prog    *ebpf.Program
	xsks    *ebpf.Map
	lnk     link.Link
	zc      bool
	// busyPoll: the sockets have SO_BUSY_POLL; receive drives NAPI.
	// busyOpts names the options the kernel took.
	busyPoll bool
	busyOpts []string
	ctlfd    int // a plain socket in the port's namespace, for interface ioctls

	// txMu serialises the transmit side (tx and completion rings of
	// socks[0]) and txHeld, the frames the kernel holds for transmission.
	txMu    sync.Mutex
	txHeld  []bool
	pending int // frames on the TX ring not yet kicked (copy mode)
	closed  bool
}

// xsk is one AF_XDP socket and its four rings.
type xsk struct {
	fd         int
	queue      int
	rx, tx     xdpRing
	fill, comp xdpRing
	fillHeld   []bool // frames given to the kernel in the fill ring (rx goroutine only)
	statsMu    sync.Mutex
	lastDrop   uint64
}

type xdpRing struct {
	mem        []byte
	prod, cons *uint32
	flags      *uint32
	descs      unsafe.Pointer
	mask       uint32
	size       uint32
}

const (
	defaultRingFrames = 2048
	xdpDescSize       = 16 // struct xdp_desc
)

// xdpProgram redirects each frame to the socket of its rx queue, and
// passes it to the stack when that queue has no socket.
func xdpProgram(xsks *ebpf.Map) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "wirebox_xsk",
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // xdp_md.rx_queue_index
			asm.LoadMapPtr(asm.R1, xsks.FD()),
			asm.Mov.Imm(asm.R3, 2), // XDP_PASS when the lookup fails
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
		License: "Dual MIT/GPL",
	})
}

func openXDPEngine(p *Port) (*xdpEngine, error) {
	pool := p.c.pool
	e := &xdpEngine{p: p, txHeld: make([]bool, pool.Len()), ctlfd: -1}
	err := inNetNS(p.cfg.NetNS, func() error {
		var err error
		if e.ifindex, err = ifaceIndex(p.cfg.Name); err != nil {
			return err
		}
		if e.ctlfd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("control socket: %w", err)
		}
		e.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(p.cfg.Queues)})
		if err != nil {
			return fmt.Errorf("XSKMAP: %w", err)
		}
		if e.prog, err = xdpProgram(e.xsks); err != nil {
			return fmt.Errorf("XDP program: %w", err)
		}
		for q := 0; q < p.cfg.Queues; q++ {
			s, err := e.openSocket(q)
			if err != nil {
				return fmt.Errorf("AF_XDP socket on queue %d: %w", q, err)
			}
			e.socks = append(e.socks, s)
			if err := e.xsks.Put(uint32(q), uint32(s.fd)); err != nil {
				return fmt.Errorf("XSKMAP entry %d: %w", q, err)
			}
		}
		// Attach last: until every socket is ready the stack keeps the frames.
		e.lnk, err = link.AttachXDP(link.XDPOptions{Program: e.prog, Interface: e.ifindex})
		if err != nil {
			return fmt.Errorf("attach XDP: %w", err)
		}
		return nil
	})
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// openSocket makes the AF_XDP socket for a queue. The first socket of the
// core registers the pool as UMEM; later ones (any port) share it.
func (e *xdpEngine) openSocket(q int) (*xsk, error) {
	c := e.p.c
	c.umemMu.Lock()
	defer c.umemMu.Unlock()
	if len(c.umemFds) == 0 {
		// Zero-copy where the driver can, else copy mode (veth).
		s, err := e.newSocket(q, -1, unix.XDP_ZEROCOPY|unix.XDP_USE_NEED_WAKEUP)
		if err == nil {
			e.zc = true
		} else {
			s, err = e.newSocket(q, -1, unix.XDP_COPY|unix.XDP_USE_NEED_WAKEUP)
		}
		if err != nil {
			return nil, err
		}
		c.umemFds = append(c.umemFds, s.fd)
		return s, nil
	}
	s, err := e.newSocket(q, c.umemFds[0], unix.XDP_SHARED_UMEM)
	if err != nil {
		return nil, err
	}
	c.umemFds = append(c.umemFds, s.fd)
	return s, nil
}

func (e *xdpEngine) newSocket(q, shared int, flags uint16) (*xsk, error) {
	pool := e.p.c.pool
	n := e.p.cfg.RingFrames
	if n == 0 {
		n = defaultRingFrames
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	s := &xsk{fd: fd, queue: q, fillHeld: make([]bool, pool.Len())}
	fail := func(what string, err error) (*xsk, error) {
		s.close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if shared < 0 {
		mem := pool.Memory()
		reg := unix.XDPUmemReg{
			Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
			Len:  uint64(len(mem)),
			Size: uint32(pool.FrameSize()),
		}
		if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			return fail("XDP_UMEM_REG", err)
		}
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING, unix.XDP_TX_RING} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, opt, n); err != nil {
			return fail("ring size", err)
		}
	}
	var off unix.XDPMmapOffsets
	if err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fail("XDP_MMAP_OFFSETS", err)
	}
	maps := []struct {
		r     *xdpRing
		o     unix.XDPRingOffset
		pgoff int64
		esz   int
	}{
		{&s.rx, off.Rx, unix.XDP_PGOFF_RX_RING, xdpDescSize},
		{&s.tx, off.Tx, unix.XDP_PGOFF_TX_RING, xdpDescSize},
		{&s.fill, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, 8},
		{&s.comp, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, 8},
	}
	for _, m := range maps {
		size := int(m.o.Desc) + n*m.esz
		mem, err := unix.Mmap(fd, m.pgoff, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fail("mmap ring", err)
		}
		*m.r = xdpRing{
			mem:   mem,
			prod:  (*uint32)(unsafe.Pointer(&mem[m.o.Producer])),
			cons:  (*uint32)(unsafe.Pointer(&mem[m.o.Consumer])),
			flags: (*uint32)(unsafe.Pointer(&mem[m.o.Flags])),
			descs: unsafe.Pointer(&mem[m.o.Desc]),
			mask:  uint32(n - 1),
			size:  uint32(n),
		}
	}
	// Stock the fill ring before binding so the first frames have room.
	e.refill(s, pool.NewCache())
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(e.ifindex), QueueID: uint32(q)}
	if shared >= 0 {
		sa.SharedUmemFD = uint32(shared)
	}
	if err := unix.Bind(fd, sa); err != nil {
		s.close()
		s.release(pool)
		return nil, fmt.Errorf("bind: %w", err)
	}
	e.setBusyPoll(fd)
	return s, nil
}

// setBusyPoll applies PortConfig.BusyPoll and BusyPollBudget to a socket.
func (e *xdpEngine) setBusyPoll(fd int) {
	cfg := e.p.cfg
	if cfg.BusyPoll <= 0 {
		return
	}
	opts := []struct {
		name string
		opt  int
		v    int
	}{
		{"SO_BUSY_POLL", unix.SO_BUSY_POLL, cfg.BusyPoll},
		{"SO_PREFER_BUSY_POLL", unix.SO_PREFER_BUSY_POLL, 1},
		{"SO_BUSY_POLL_BUDGET", unix.SO_BUSY_POLL_BUDGET, cfg.BusyPollBudget},
	}
	for _, o := range opts {
		if o.v <= 0 {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.opt, o.v); err != nil {
			e.p.c.log.Warn("busy-poll option not taken", "port", cfg.Name, "option", o.name, "err", err)
			continue
		}
		e.busyPoll = true
		if !slices.Contains(e.busyOpts, o.name) {
			e.busyOpts = append(e.busyOpts, o.name)
		}
	}
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	l := uint32(n)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func (r *xdpRing) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.descs, uintptr(i&r.mask)*xdpDescSize))
}

func (r *xdpRing) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.descs, uintptr(i&r.mask)*8))
}

func (r *xdpRing) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// refill gives the kernel free frames for receiving.
func (e *xdpEngine) refill(s *xsk, cache *tap.Cache) {
	pool := e.p.c.pool
	prod := atomic.LoadUint32(s.fill.prod)
	room := s.fill.size - (prod - atomic.LoadUint32(s.fill.cons))
	k := uint32(0)
	for ; k < room; k++ {
		id, err := cache.Alloc(tap.OwnerCore)
		if err != nil {
			// The pool is empty: the fill ring runs dry and the kernel
			// drops (and counts, in rx_dropped) what arrives meanwhile.
			break
		}
		s.fillHeld[id] = true
		*s.fill.addr(prod + k) = pool.Addr(id)
	}
	if k > 0 {
		atomic.StoreUint32(s.fill.prod, prod+k)
	}
}

func (e *xdpEngine) run(ctx context.Context) { runEach(ctx, e.socks, e.receive) }

func (e *xdpEngine) receive(ctx context.Context, s *xsk) {
	enginePriority()
	p := e.p
	pool := p.c.pool
	cache := pool.NewCache()
	defer cache.Close()
	pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	mask := uint64(pool.FrameSize() - 1)
	bt := batch{stage: newStage()}
	for ctx.Err() == nil {
		cons := atomic.LoadUint32(s.rx.cons)
		n := atomic.LoadUint32(s.rx.prod) - cons
		if n == 0 {
			e.flush() // frames an owner left waiting, and completions
			if e.busyPoll {
				// A receive call runs the device's NAPI poll in this
				// thread (SO_BUSY_POLL), which also wakes the driver
				// when the fill ring needs it.
				unix.Recvfrom(s.fd, nil, unix.MSG_DONTWAIT)
				if atomic.LoadUint32(s.rx.prod) != cons {
					continue
				}
			}
			// poll(2) on this thread (nice -5), not the netpoller as the
			// passive engine does: AF_XDP has no backpressure, and the
			// netpoller's extra hop through a nice-0 thread before this
			// one runs lost 2,048-27,136 of 1,000,000 frames in each of
			// three runs at load 11, where poll lost none (at more CPU:
			// docs/BENCHMARKS.md). poll also wakes the driver when the
			// fill ring needs it; 100 ms so a cancelled context is noticed.
			if _, err := unix.Poll(pfd, 100); err != nil && !errors.Is(err, unix.EINTR) {
				p.c.log.Error("poll", "port", p.cfg.Name, "err", err)
				return
			}
			socketTrouble(p, s.fd, pfd[0].Revents)
			continue
		}
		now := p.c.clock.Now()
		p.dispatch.RLock()
		for i := uint32(0); i < n; i++ {
			d := s.rx.desc(cons + i)
			id := pool.FrameOf(d.Addr)
			s.fillHeld[id] = false
			pool.SetData(id, int(d.Addr&mask), int(d.Len), int(d.Len))
			p.stamp(id, now, TSEngine, RX)
			p.receivedBatch(id, RX, TSEngine, &bt)
		}
		p.commit(&bt)
		p.wakeSubscribers()
		p.dispatch.RUnlock()
		atomic.StoreUint32(s.rx.cons, cons+n)
		p.flushForward()
		e.refill(s, cache)
		if s.fill.needWakeup() {
			unix.Poll(pfd, 0)
		}
	}
}

func (e *xdpEngine) reapLocked() int {
	if e.closed {
		return 0
	}
	s := e.socks[0]
	pool := e.p.c.pool
	cons := atomic.LoadUint32(s.comp.cons)
	n := atomic.LoadUint32(s.comp.prod) - cons
	for i := uint32(0); i < n; i++ {
		id := pool.FrameOf(*s.comp.addr(cons + i))
		e.txHeld[id] = false
		pool.Unref(id)
	}
	if n > 0 {
		atomic.StoreUint32(s.comp.cons, cons+n)
	}
	return int(n)
}

// txBatch is how many frames wait on the TX ring for one kick; the
// kernel's copy-mode transmit sends up to 32 per call.
const txBatch = 32

func (e *xdpEngine) transmit(id tap.FrameID, flush bool) error {
	pool := e.p.c.pool
	e.txMu.Lock()
	defer e.txMu.Unlock()
	if e.closed {
		pool.Unref(id)
		return ErrClosed
	}
	s := e.socks[0]
	for try := 0; ; try++ {
		if s.tx.size-(atomic.LoadUint32(s.tx.prod)-atomic.LoadUint32(s.tx.cons)) > 0 {
			break
		}
		// TX ring full: kick the kernel and collect completions.
		e.kickLocked()
		if e.reapLocked() == 0 && try > 1000 {
			pool.Unref(id)
			return unix.ENOBUFS
		}
	}
	// Subscribers see the frame as sent, stamped when handed to the kernel.
	e.p.transmitted(id)
	data := pool.Data(id)
	prod := atomic.LoadUint32(s.tx.prod)
	d := s.tx.desc(prod)
	d.Addr = pool.Addr(id) + uint64(cap(pool.Buffer(id))-cap(data))
	d.Len = uint32(len(data))
	d.Options = 0
	e.txHeld[id] = true
	atomic.StoreUint32(s.tx.prod, prod+1)
	e.pending++
	if flush || e.pending >= txBatch {
		return e.kickLocked()
	}
	return nil
}

func (e *xdpEngine) flush() {
	e.txMu.Lock()
	defer e.txMu.Unlock()
	switch {
	case e.closed:
	case e.pending > 0:
		e.kickLocked()
		// Copy mode sends at most 32 frames per kick: kick until the
		// kernel has taken every descriptor (bounded, should it stall).
		s := e.socks[0]
		for i := 0; !e.zc && i < 1<<16 && atomic.LoadUint32(s.tx.cons) != atomic.LoadUint32(s.tx.prod); i++ {
			e.kickLocked()
		}
	default:
		e.reapLocked()
	}
}

// kickLocked tells the kernel about new TX descriptors (always needed in
// copy mode; in zero-copy mode only when the driver asks) and collects
// completions.
func (e *xdpEngine) kickLocked() error {
	s := e.socks[0]
	e.pending = 0
	var err error
	if !e.zc || s.tx.needWakeup() {
		e.p.txKicks.Add(1)
		err = unix.Sendto(s.fd, nil, unix.MSG_DONTWAIT, nil)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOBUFS) {
			err = nil // the kernel is busy sending; the frames stay queued
		}
	}
	e.reapLocked()
	return err
}

func (e *xdpEngine) kernelDrops() uint64 {
	var total uint64
	for _, s := range e.socks {
		s.statsMu.Lock()
		if s.fd >= 0 {
			var st unix.XDPStatistics
			if getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)) == nil {
				s.lastDrop = st.Rx_dropped + st.Rx_ring_full
			}
		}
		total += s.lastDrop
		s.statsMu.Unlock()
	}
	return total
}

func (e *xdpEngine) linkUp() bool {
	e.txMu.Lock()
	defer e.txMu.Unlock()
	return !e.closed && linkUpFd(e.ctlfd, e.p.cfg.Name)
}

func (e *xdpEngine) close() error {
	var errs []error
	if e.lnk != nil {
		errs = append(errs, e.lnk.Close())
	}
	e.kernelDrops()
	for _, s := range e.socks {
		var st unix.XDPStatistics
		if s.fd >= 0 && getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)) == nil {
			e.p.c.log.Info("AF_XDP socket statistics", "port", e.p.cfg.Name, "queue", s.queue,
				"rx_dropped", st.Rx_dropped, "rx_ring_full", st.Rx_ring_full, "rx_fill_ring_empty", st.Rx_fill_ring_empty_descs,
				"rx_invalid", st.Rx_invalid_descs, "tx_invalid", st.Tx_invalid_descs, "tx_ring_empty", st.Tx_ring_empty_descs)
		}
	}
	e.txMu.Lock()
	e.closed = true
	e.txMu.Unlock()
	c := e.p.c
	pool := c.pool
	for _, s := range e.socks {
		c.umemMu.Lock()
		for i, fd := range c.umemFds {
			if fd == s.fd {
				c.umemFds = append(c.umemFds[:i:i], c.umemFds[i+1:]...)
				break
			}
		}
		c.umemMu.Unlock()
		s.statsMu.Lock()
		s.close() // unmaps the rings and closes the socket
		s.release(pool)
		s.statsMu.Unlock()
	}
	// The sockets are gone, so the kernel holds no frame any more.
	for id, held := range e.txHeld {
		if held {
			e.txHeld[id] = false
			pool.Unref(tap.FrameID(id))
		}
	}
	if e.ctlfd >= 0 {
		unix.Close(e.ctlfd)
	}
	if e.prog != nil {
		e.prog.Close()
	}
	if e.xsks != nil {
		e.xsks.Close()
	}
	return errors.Join(errs...)
}

// release drops the references of frames still given to the kernel for
// receiving; call it only once the socket is gone (close).
func (s *xsk) release(pool *tap.Pool) {
	for id, held := range s.fillHeld {
		if held {
			s.fillHeld[id] = false
			pool.Unref(tap.FrameID(id))
		}
	}
}

func (s *xsk) close() {
	for _, r := range []*xdpRing{&s.rx, &s.tx, &s.fill, &s.comp} {
		if r.mem != nil {
			unix.Munmap(r.mem)
			r.mem = nil
		}
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}
