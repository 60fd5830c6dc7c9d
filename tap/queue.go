package tap

import "sync/atomic"

// Queue is a bounded lock-free multi-producer multi-consumer queue of
// FrameIDs (Vyukov's bounded queue: a sequence number per slot). Push and
// Pop never block and never allocate.
type Queue struct {
	mask  uint64
	slots []qslot
	_     [40]byte
	tail  atomic.Uint64 // next slot to push
	_     [56]byte
	head  atomic.Uint64 // next slot to pop
	_     [56]byte
}

type qslot struct {
	seq atomic.Uint64
	id  FrameID
}

// NewQueue returns a queue holding at least n ids (rounded up to a power of two).
func NewQueue(n int) *Queue {
	size := 2
	for size < n {
		size <<= 1
	}
	q := &Queue{mask: uint64(size - 1), slots: make([]qslot, size)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// Cap is the queue's capacity.
func (q *Queue) Cap() int { return len(q.slots) }

// Push adds id; false when the queue is full.
func (q *Queue) Push(id FrameID) bool {
	s, pos, ok := q.claim(&q.tail, 0)
	if !ok {
		return false
	}
	s.id = id
	s.seq.Store(pos + 1)
	return true
}

// claim moves end (tail or head) one slot on and returns the slot it
// passed, once that slot's seq is end's position plus ready (0: free for a
// producer, 1: filled for a consumer); false when it is not (full, or
// empty). The caller then owns the slot until it stores the next seq.
func (q *Queue) claim(end *atomic.Uint64, ready uint64) (*qslot, uint64, bool) {
	pos := end.Load()
	for {
		s := &q.slots[pos&q.mask]
		switch d := int64(s.seq.Load()) - int64(pos+ready); {
		case d == 0:
			if end.CompareAndSwap(pos, pos+1) {
				return s, pos, true
			}
			pos = end.Load()
		case d < 0:
			return nil, 0, false
		default:
			pos = end.Load()
		}
	}
}

// PushN adds a prefix of ids with one step on the shared tail and returns
// its length: less than len(ids) when the queue fills up.
func (q *Queue) PushN(ids []FrameID) int {
	for {
		pos := q.tail.Load()
		n := 0
		for n < len(ids) && q.slots[(pos+uint64(n))&q.mask].seq.Load() == pos+uint64(n) {
			n++
		}
		if n == 0 {
			if len(ids) == 0 || int64(q.slots[pos&q.mask].seq.Load())-int64(pos) < 0 {
				return 0 // full
			}
			continue // another producer took pos
		}
		// A slot whose seq is its position is free and only the producer
		// that moves tail past it may fill it.
		if q.tail.CompareAndSwap(pos, pos+uint64(n)) {
			for i, id := range ids[:n] {
				s := &q.slots[(pos+uint64(i))&q.mask]
				s.id = id
				s.seq.Store(pos + uint64(i) + 1)
			}
			return n
		}
	}
}

// Pop removes the oldest id; false when the queue is empty.
func (q *Queue) Pop() (FrameID, bool) {
	s, pos, ok := q.claim(&q.head, 1)
	if !ok {
		return NoFrame, false
	}
	id := s.id
	s.seq.Store(pos + q.mask + 1)
	return id, true
}

// PopN removes up to len(dst) of the oldest ids into dst with one step on
// the shared head and returns how many; 0 when the queue is empty.
func (q *Queue) PopN(dst []FrameID) int {
	for {
		pos := q.head.Load()
		n := 0
		for n < len(dst) && q.slots[(pos+uint64(n))&q.mask].seq.Load() == pos+uint64(n)+1 {
			n++
		}
		if n == 0 {
			if len(dst) == 0 || int64(q.slots[pos&q.mask].seq.Load())-int64(pos+1) < 0 {
				return 0 // empty
			}
			continue // another consumer took pos
		}
		// A filled slot stays filled until the consumer that moves head
		// past it frees it.
		if q.head.CompareAndSwap(pos, pos+uint64(n)) {
			for i := range dst[:n] {
				s := &q.slots[(pos+uint64(i))&q.mask]
				dst[i] = s.id
				s.seq.Store(pos + uint64(i) + q.mask + 1)
			}
			return n
		}
	}
}

// Len is the number of queued ids (approximate while others push or pop).
func (q *Queue) Len() int {
	n := int64(q.tail.Load()) - int64(q.head.Load())
	if n < 0 {
		return 0
	}
	return int(n)
}
