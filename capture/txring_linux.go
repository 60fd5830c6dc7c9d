package capture

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/wirebox/wirebox/tap"
	"golang.org/x/sys/unix"
)

// txRing is a passive port's PACKET_TX_RING (TPACKET_V2): frames are
// copied into ring slots marked TP_STATUS_SEND_REQUEST and one sendto
// hands every marked slot to the kernel, which sends them in ring order
// straight from the ring's pages (no further copy, no per-frame message
// headers as sendmmsg needs). It is what trafgen and netsniff-ng use.
// The kick does not wait for the frames to leave (on a NIC that would be
// a TX completion per Send); a slot is waited for only when the ring
// comes round to it while its frame is still on its way.
//
// The kernel keeps its own head: the next slot it will look at. It
// stops at the first slot not marked, so our head must stay equal to its
// head whenever no slot is marked; txRing keeps that by kicking until the
// kernel has taken every marked slot (or, on failure, unmarking what it
// did not take).
type txRing struct {
	fd    int
	mem   []byte
	slot  int // bytes per slot
	n     int // slots
	head  int // next slot to fill
	max   int // largest frame a slot (and the link) takes
	kicks *atomic.Uint64
	waits int // times the ring came round to a slot still in use (tests)
}

const (
	txRingSlots = txBatchMax
	// Frame data starts after the TPACKET_ALIGNed header (without
	// PACKET_TX_HAS_OFF): TPACKET2_HDRLEN - sizeof(struct sockaddr_ll).
	txDataOff = (unix.SizeofTpacket2Hdr + 15) &^ 15
)

// errTxSocket marks a failed openTxRing that left the socket unusable.
var errTxSocket = errors.New("tx socket unusable")

// openTxRing sets up the tx ring on fd, a bound AF_PACKET socket with
// nothing sent yet.
func openTxRing(fd int, mtu int, kicks *atomic.Uint64) (*txRing, error) {
	// Room for the link's largest frame (MTU, Ethernet header, a VLAN tag).
	slot := 2048
	if mtu+18+txDataOff > slot {
		slot = 4096
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, fmt.Errorf("PACKET_VERSION: %w", err)
	}
	// A slot the kernel refuses (too long for the link) is skipped and
	// marked available instead of stopping the ring at it; frames are
	// checked before they are placed, so this does not hide errors.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return nil, fmt.Errorf("PACKET_LOSS: %w", err)
	}
	block := 1 << 16
	req := unix.TpacketReq{
		Block_size: uint32(block),
		Block_nr:   uint32(txRingSlots * slot / block),
		Frame_size: uint32(slot),
		Frame_nr:   uint32(txRingSlots),
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return nil, fmt.Errorf("PACKET_TX_RING: %w", err)
	}
	// Waiting for a slot the kernel still holds (reclaim) waits at most
	// this long per try (a link that stopped sending, a qdisc that holds
	// frames).
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("SO_SNDTIMEO: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, txRingSlots*slot, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		// With a ring set up, sendmsg sends from the ring and ignores its
		// data: take the ring away again, or the socket is useless.
		if uerr := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &unix.TpacketReq{}); uerr != nil {
			return nil, fmt.Errorf("%w: mmap tx ring: %w; removing it: %w", errTxSocket, err, uerr)
		}
		return nil, fmt.Errorf("mmap tx ring: %w", err)
	}
	return &txRing{fd: fd, mem: mem, slot: slot, n: txRingSlots, max: min(slot-txDataOff, mtu+18), kicks: kicks}, nil
}

func (r *txRing) hdr(i int) *unix.Tpacket2Hdr {
	return (*unix.Tpacket2Hdr)(unsafe.Pointer(&r.mem[i*r.slot]))
}

func (r *txRing) status(i int) uint32 { return atomic.LoadUint32(&r.hdr(i).Status) }

// kick hands the marked slots up to last to the kernel without waiting
// for them to leave (as sendmmsg returns once its frames are queued): it
// returns when the kernel has taken slot last. A full socket buffer
// (EAGAIN, or a partial pass) is waited out with poll; a full qdisc
// (ENOBUFS: the kernel leaves the frame marked, to be sent again) with a
// short sleep.
func (r *txRing) kick(last int) error {
	for tries := 0; ; tries++ {
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(r.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		r.kicks.Add(1)
		if r.status(last) != unix.TP_STATUS_SEND_REQUEST {
			return nil
		}
		switch {
		case tries >= 1000:
			if errno == 0 {
				errno = unix.EAGAIN
			}
			return errno
		case errno == 0 || errno == unix.EAGAIN || errno == unix.EINTR:
			pfd := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLOUT}}
			unix.Poll(pfd, 10)
		case errno == unix.ENOBUFS:
			unix.Nanosleep(&unix.Timespec{Nsec: 100_000}, nil)
		default:
			return errno
		}
	}
}

// reclaim waits, with a blocking sendto (which returns when nothing the
// kernel took is pending any more), for the kernel to give slot i back.
// Needed only when the ring comes round to slots whose frames are still
// leaving.
func (r *txRing) reclaim(i int) error {
	r.waits++
	for tries := 0; r.status(i) != unix.TP_STATUS_AVAILABLE; tries++ {
		if tries >= 3 {
			return unix.EBUSY
		}
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(r.fd), 0, 0, 0, 0, 0)
		r.kicks.Add(1)
		if errno != 0 && errno != unix.EINTR {
			return errno
		}
	}
	return nil
}

// send copies the frames into the ring in order and sends them; the
// caller keeps (and releases) the frames. It returns how many failed and
// the first error (counted by the caller).
func (r *txRing) send(pool *tap.Pool, ids []tap.FrameID, stamp func(tap.FrameID)) (failed int, first error) {
	fail := func(err error) {
		failed++
		if first == nil {
			first = err
		}
	}
	start, placed := r.head, 0
	for _, id := range ids {
		d := pool.Data(id)
		switch {
		case len(d) < 14:
			fail(unix.EINVAL) // shorter than an Ethernet header
			continue
		case len(d) > r.max:
			fail(unix.EMSGSIZE)
			continue
		}
		// The ring came round to a slot whose frame is still leaving:
		// hand over what is marked, then wait for the slot.
		if r.status(r.head) != unix.TP_STATUS_AVAILABLE {
			if placed > 0 {
				err := r.kick(r.prev())
				if n := r.settle(start, placed); n > 0 {
					failed += n - 1
					fail(orEIO(err))
				}
				start, placed = r.head, 0
			}
			if err := r.reclaim(r.head); err != nil {
				fail(err)
				continue
			}
		}
		h := r.hdr(r.head)
		copy(r.mem[r.head*r.slot+txDataOff:], d)
		h.Len = uint32(len(d))
		stamp(id)
		atomic.StoreUint32(&h.Status, unix.TP_STATUS_SEND_REQUEST)
		r.head = (r.head + 1) % r.n
		placed++
	}
	if placed > 0 {
		err := r.kick(r.prev())
		if n := r.settle(start, placed); n > 0 {
			failed += n - 1
			fail(orEIO(err))
		}
	}
	return failed, first
}

// orEIO is err, or EIO for frames the kernel left unsent without saying why.
func orEIO(err error) error {
	if err == nil {
		return unix.EIO
	}
	return err
}

// prev is the slot before head: the last one filled.
func (r *txRing) prev() int { return (r.head + r.n - 1) % r.n }

// settle checks, after a kick, the placed slots from start on: any still
// marked were not sent (the kick failed); they are unmarked and our head
// goes back to the first of them, which is where the kernel's head
// stopped. It returns how many were not sent.
func (r *txRing) settle(start, placed int) int {
	for k := 0; k < placed; k++ {
		i := (start + k) % r.n
		if r.status(i) != unix.TP_STATUS_SEND_REQUEST {
			continue
		}
		for j := k; j < placed; j++ {
			atomic.StoreUint32(&r.hdr((start+j)%r.n).Status, unix.TP_STATUS_AVAILABLE)
		}
		r.head = i
		return placed - k
	}
	return 0
}

func (r *txRing) close() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
}
