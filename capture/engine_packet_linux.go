package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/wirebox/wirebox/tap"
	"golang.org/x/sys/unix"
)

// packetEngine is the passive engine: TPACKET_V3 rx rings (a fanout group
// when there are several) and an AF_PACKET socket with a PACKET_TX_RING
// for transmit (sendmmsg on it when the ring cannot be had, or when
// PortConfig.TxSendmmsg asks).
type packetEngine struct {
	p       *Port
	ifindex int
	rings   []*packetRing
	txfd    int
	tx      *txRing // nil: sendmmsg
	txMu    sync.Mutex
	// txq holds frames given to transmit without flush, sent by the next
	// flush in one sendmmsg (under txMu).
	txq  []tap.FrameID
	msgs []mmsghdr
	iovs []unix.Iovec

	statsMu sync.Mutex
	drops   atomic.Uint64
}

type packetRing struct {
	fd        int
	mem       []byte
	blockSize int
	blocks    int
	// touched keeps readRing's reads of pool frames ahead of its copies
	// (their only use); only the ring's goroutine writes it.
	touched byte
}

const (
	// 64 MiB in 1 MiB blocks. 256 KiB blocks (fewer pool frames in
	// flight at 64 bytes) were tried and not kept: no clear gain at 64
	// bytes, and at 1514 bytes more wake-ups per frame cost 20-80 % more
	// CPU and, under load, ring overflows (docs/BENCHMARKS.md).
	defaultBlockSize  = 1 << 20
	defaultRingBlocks = 64
	// offset of sll_pkttype: the sockaddr_ll follows the TPACKET_ALIGNed header.
	sllPkttypeOffset = (unix.SizeofTpacket3Hdr+15)&^15 + 10
	blockStatusOff   = 8 // TpacketBlockDesc.Hdr starts with block_status
)

func openPacketEngine(p *Port) (*packetEngine, error) {
	e := &packetEngine{p: p, txfd: -1}
	err := inNetNS(p.cfg.NetNS, func() error {
		var err error
		if e.ifindex, err = ifaceIndex(p.cfg.Name); err != nil {
			return err
		}
		fanoutID := uint32(os.Getpid()+int(p.idx)*7919) & 0xffff
		for q := 0; q < p.cfg.Queues; q++ {
			r, err := e.openRing(p.cfg)
			if err != nil {
				return err
			}
			e.rings = append(e.rings, r)
			if p.cfg.Queues > 1 {
				arg := int(fanoutID | (unix.PACKET_FANOUT_HASH|unix.PACKET_FANOUT_FLAG_DEFRAG)<<16)
				if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
					return fmt.Errorf("PACKET_FANOUT: %w", err)
				}
			}
		}
		// Transmit goes through its own socket, so the rx rings see our
		// transmissions as outgoing frames like any other.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("tx socket: %w", err)
		}
		e.txfd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: e.ifindex}); err != nil {
			return fmt.Errorf("bind tx socket: %w", err)
		}
		if p.cfg.TxSendmmsg {
			return nil
		}
		ifi, err := net.InterfaceByIndex(e.ifindex)
		if err != nil {
			return err
		}
		if e.tx, err = openTxRing(fd, ifi.MTU, &p.txKicks); errors.Is(err, errTxSocket) {
			return err
		} else if err != nil {
			// sendmmsg works wherever the socket does.
			p.c.log.Warn("no PACKET_TX_RING, transmitting with sendmmsg", "port", p.cfg.Name, "err", err)
		}
		return nil
	})
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *packetEngine) openRing(cfg PortConfig) (*packetRing, error) {
	// Protocol 0 until bound, so nothing from other interfaces queues up.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	r := &packetRing{fd: fd, blockSize: cfg.BlockSize, blocks: cfg.RingBlocks}
	if r.blockSize == 0 {
		r.blockSize = defaultBlockSize
	}
	if r.blocks == 0 {
		r.blocks = defaultRingBlocks
	}
	fail := func(what string, err error) (*packetRing, error) {
		r.close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("PACKET_VERSION", err)
	}
	// Ask for hardware receive stamps; the kernel falls back to its
	// software stamp per frame and says which in tp_status.
	_ = unix.IoctlSetHwTstamp(fd, cfg.Name, &unix.HwTstampConfig{Rx_filter: unix.HWTSTAMP_FILTER_ALL})
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_TIMESTAMP, unix.SOF_TIMESTAMPING_RAW_HARDWARE)
	req := unix.TpacketReq3{
		Block_size:     uint32(r.blockSize),
		Block_nr:       uint32(r.blocks),
		Frame_size:     2048,
		Frame_nr:       uint32(r.blockSize / 2048 * r.blocks),
		Retire_blk_tov: 10, // ms: a partly filled block reaches us within 10 ms
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("PACKET_RX_RING", err)
	}
	mem, err := unix.Mmap(fd, 0, r.blockSize*r.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail("mmap ring", err)
	}
	r.mem = mem
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: e.ifindex}); err != nil {
		return fail("bind", err)
	}
	return r, nil
}

func (r *packetRing) close() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

func (e *packetEngine) run(ctx context.Context) { runEach(ctx, e.rings, e.readRing) }

func (e *packetEngine) readRing(ctx context.Context, r *packetRing) {
	enginePriority()
	p := e.p
	pool := p.c.pool
	cache := pool.NewCache()
	defer cache.Close()
	w, err := newFdWaiter(r.fd)
	if err != nil {
		p.c.log.Error("engine socket", "port", p.cfg.Name, "err", err)
		return
	}
	defer w.close()
	blk := 0
	bt := batch{stage: newStage()}
	// Frames are claimed from the pool a run at a time (see Cache.AllocN).
	var ids [64]tap.FrameID
	for ctx.Err() == nil {
		b := r.mem[blk*r.blockSize : (blk+1)*r.blockSize]
		status := (*uint32)(unsafe.Pointer(&b[blockStatusOff]))
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			w.wait(ctx, p, func() bool { return atomic.LoadUint32(status)&unix.TP_STATUS_USER != 0 })
			continue
		}
		h := (*unix.TpacketHdrV1)(unsafe.Pointer(&b[blockStatusOff]))
		off := int(h.Offset_to_first_pkt)
		p.dispatch.RLock()
		for i := 0; i < int(h.Num_pkts); {
			want := min(len(ids), int(h.Num_pkts)-i)
			got := cache.AllocN(tap.OwnerCore, ids[:want])
			// Read each destination's first line before any copy: the
			// loads' misses overlap, where the copies' stores would wait
			// for one line after another.
			var touch byte
			for _, id := range ids[:got] {
				touch |= pool.Buffer(id)[0]
			}
			r.touched |= touch
			for j := range want {
				th := (*unix.Tpacket3Hdr)(unsafe.Pointer(&b[off]))
				if j < got {
					e.frame(ids[j], b, off, th, &bt)
				} else {
					p.rxDroppedPool.Add(1)
				}
				off += int(th.Next_offset)
			}
			i += want
		}
		p.commit(&bt)
		p.wakeSubscribers()
		p.dispatch.RUnlock()
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		blk = (blk + 1) % r.blocks
	}
}

// frame copies one ring frame into pool frame id and dispatches it.
func (e *packetEngine) frame(id tap.FrameID, b []byte, off int, th *unix.Tpacket3Hdr, bt *batch) {
	p := e.p
	data := b[off+int(th.Mac) : off+int(th.Mac)+int(th.Snaplen)]
	buf := p.c.pool.Buffer(id)
	wire := int(th.Len)
	var n int
	if th.Status&unix.TP_STATUS_VLAN_VALID != 0 && len(data) >= 12 && len(buf) >= 16 {
		// The kernel took the VLAN tag out of the frame; put it back as
		// it was on the wire.
		tpid := th.Hv1.Vlan_tpid
		if tpid == 0 {
			tpid = unix.ETH_P_8021Q
		}
		copy(buf, data[:12])
		buf[12], buf[13] = byte(tpid>>8), byte(tpid)
		buf[14], buf[15] = byte(th.Hv1.Vlan_tci>>8), byte(th.Hv1.Vlan_tci)
		n = 16 + copy(buf[16:], data[12:])
		wire += 4
	} else {
		n = copy(buf, data)
	}
	p.c.pool.SetData(id, 0, n, wire)
	// Without a hardware or skb software stamp the kernel reads its clock
	// in tpacket_rcv: kernel receive time either way.
	src := TSKernel
	if th.Status&unix.TP_STATUS_TS_RAW_HARDWARE != 0 {
		src = TSHardware
	}
	ts := int64(th.Sec)*1e9 + int64(th.Nsec)
	dir := RX
	if b[off+sllPkttypeOffset] == unix.PACKET_OUTGOING {
		dir = TX
	}
	p.stamp(id, ts, src, dir)
	p.receivedBatch(id, dir, src, bt)
}

// txBatchMax bounds one sendmmsg (the kernel's UIO_MAXIOV).
const txBatchMax = 1024

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// flush sends the queued frames.
func (e *packetEngine) flush() {
	e.txMu.Lock()
	defer e.txMu.Unlock()
	e.sendQueued()
}

// transmit queues the frame; with flush, or when a batch is full, the
// queue goes to the kernel in one sendmmsg. Errors of a queued frame are
// counted in the port's tx errors, not returned.
func (e *packetEngine) transmit(id tap.FrameID, flush bool) error {
	e.txMu.Lock()
	defer e.txMu.Unlock()
	if e.txfd < 0 {
		e.p.c.pool.Unref(id)
		return ErrClosed
	}
	e.txq = append(e.txq, id)
	if flush || len(e.txq) >= txBatchMax {
		if _, err := e.sendQueued(); err != nil && flush {
			return err
		}
	}
	return nil
}

// sendQueued hands every queued frame to the kernel, in order, with as few
// sendmmsg calls as it will take, and releases them. The caller holds txMu.
// It returns how many failed (counted in the port's tx errors) and the
// first error, marked as counted.
func (e *packetEngine) sendQueued() (int, error) {
	if len(e.txq) == 0 {
		return 0, nil
	}
	pool := e.p.c.pool
	q := e.txq
	if e.tx != nil {
		return e.ringSend()
	}
	if cap(e.msgs) < len(q) {
		e.msgs = make([]mmsghdr, len(q))
		e.iovs = make([]unix.Iovec, len(q))
	}
	msgs, iovs := e.msgs[:len(q)], e.iovs[:len(q)]
	// Stamped when handed to the kernel; rx rings report each frame again
	// as a TX copy with the kernel's stamp.
	now := e.p.c.clock.Now()
	for i, id := range q {
		d := pool.Data(id)
		pool.SetTx(id, now, e.p.idx)
		iovs[i] = unix.Iovec{Base: &d[0]}
		iovs[i].SetLen(len(d))
		msgs[i] = mmsghdr{}
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	failed := 0
	var first error
	for done := 0; done < len(q); {
		r1, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(e.txfd), uintptr(unsafe.Pointer(&msgs[done])), uintptr(len(q)-done), 0, 0, 0)
		e.p.txKicks.Add(1)
		switch {
		case errno == unix.EINTR:
		case errno == unix.ENOBUFS || errno == unix.EAGAIN:
			// The qdisc is full for a moment; wait for room.
			pfd := []unix.PollFd{{Fd: int32(e.txfd), Events: unix.POLLOUT}}
			unix.Poll(pfd, 10)
		case errno != 0:
			// The first frame of the rest failed: count it and go on.
			if first == nil {
				first = countedError{errno}
			}
			failed++
			done++
		default:
			done += int(r1)
		}
	}
	runtime.KeepAlive(iovs)
	var r tap.Releaser
	for i, id := range q {
		r.Unref(pool, id)
		q[i] = tap.NoFrame
	}
	r.Flush(pool)
	e.txq = q[:0]
	if failed > 0 {
		e.p.txErrors.Add(uint64(failed))
	}
	return failed, first
}

// ringSend is sendQueued through the tx ring.
func (e *packetEngine) ringSend() (int, error) {
	pool := e.p.c.pool
	// Stamped when handed to the kernel, as with sendmmsg.
	now := e.p.c.clock.Now()
	failed, first := e.tx.send(pool, e.txq, func(id tap.FrameID) { pool.SetTx(id, now, e.p.idx) })
	var r tap.Releaser
	for i, id := range e.txq {
		r.Unref(pool, id)
		e.txq[i] = tap.NoFrame
	}
	r.Flush(pool)
	e.txq = e.txq[:0]
	if failed > 0 {
		e.p.txErrors.Add(uint64(failed))
		first = countedError{first}
	}
	return failed, first
}

func (e *packetEngine) kernelDrops() uint64 {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	// PACKET_STATISTICS resets on read: accumulate.
	for _, r := range e.rings {
		if r.fd < 0 {
			continue
		}
		st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err == nil {
			e.drops.Add(uint64(st.Drops))
		}
	}
	return e.drops.Load()
}

func (e *packetEngine) linkUp() bool {
	if e.txfd < 0 {
		return false
	}
	return linkUpFd(e.txfd, e.p.cfg.Name)
}

func (e *packetEngine) close() error {
	e.flush()
	e.kernelDrops() // keep the final count
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	for _, r := range e.rings {
		r.close()
	}
	e.txMu.Lock()
	if e.tx != nil {
		e.tx.close()
	}
	if e.txfd >= 0 {
		unix.Close(e.txfd)
		e.txfd = -1
	}
	e.txMu.Unlock()
	return nil
}
