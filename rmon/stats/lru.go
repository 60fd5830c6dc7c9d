package stats

import (
	"cmp"
	"slices"
)

// lru is a recency list threaded through a table's entries (no
// allocation per use): front is the most recently used entry, back the
// one a full table deletes next (RFC 2819 and RFC 4502 let the probe
// delete entries to make room; the least recently used goes first).
//
// Moving an entry on every frame halved the counting rate, so an entry
// moved to the front in the last slack moves stays where it is: it is
// at most slack from the front. An entry reaches the back only after
// size-slack moves without a use, so the one deleted has not been used
// for at least that many; with slack a sixteenth of the table that is
// least recently used to within a sixteenth (exact below 16 entries).
// Every use is numbered, so listings (sorted) are in exact recency order.
type lru[T any] struct {
	front, back *T
	links       func(*T) *links[T]
	moves       uint64 // entries put at the front so far
	uses        uint64
	slack       uint64
	max         int // the table's size
	counts      TableCounts
}

// links are an entry's place in its table's lru, the move that put it
// at the front and its last use.
type links[T any] struct {
	prev, next  *T
	moved, used uint64
}

// newLRU is the list of a table of size entries.
func newLRU[T any](size int, links func(*T) *links[T]) lru[T] {
	return lru[T]{links: links, slack: uint64(max(size, 0) / 16), max: size}
}

// room makes room for one more entry in the table, which has n: when it
// is full its least recently used entry goes (drop takes it out of the
// table's maps and caches and returns what else went with it, such as
// its protocols' entries, for also). False when the table holds nothing.
func (l *lru[T]) room(n int, now int64, drop func(*T) uint64, also *TableCounts) bool {
	if l.max <= 0 {
		l.counts.Dropped++
		return false
	}
	if n >= l.max {
		old := l.back
		l.remove(old)
		l.counts.deleted(1, now)
		if n := drop(old); also != nil {
			also.deleted(n, now)
		}
	}
	return true
}

// add puts a new entry at the front, counted.
func (l *lru[T]) add(e *T) {
	l.pushFront(e)
	l.counts.Inserts++
}

func (l *lru[T]) pushFront(e *T) {
	k := l.links(e)
	l.moves++
	l.uses++
	k.moved, k.used = l.moves, l.uses
	k.prev, k.next = nil, l.front
	if l.front != nil {
		l.links(l.front).prev = e
	} else {
		l.back = e
	}
	l.front = e
}

func (l *lru[T]) remove(e *T) {
	k := l.links(e)
	if k.prev != nil {
		l.links(k.prev).next = k.next
	} else {
		l.front = k.next
	}
	if k.next != nil {
		l.links(k.next).prev = k.prev
	} else {
		l.back = k.prev
	}
	k.prev, k.next = nil, nil
}

// touch makes e the most recently used.
func (l *lru[T]) touch(e *T) {
	k := l.links(e)
	if l.moves-k.moved > l.slack {
		l.remove(e)
		l.pushFront(e)
		return
	}
	l.uses++
	k.used = l.uses
}

// list copies the entries, most recently used first, with copy.
func (l *lru[T]) list(copy func(*T) T) []T {
	var es []*T
	for e := l.front; e != nil; e = l.links(e).next {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *T) int { return cmp.Compare(l.links(b).used, l.links(a).used) })
	out := make([]T, len(es))
	for i, e := range es {
		out[i] = copy(e)
	}
	return out
}

// TableCounts are a bounded table's churn since the port's start: entries
// inserted and deleted to make room (Inserts - Deletes entries remain),
// when the last was deleted (Unix ns, 0: never), and frames not counted
// because the table could hold nothing (a limit of 0).
type TableCounts struct {
	Inserts, Deletes uint64
	LastDelete       int64
	Dropped          uint64
}

// deleted counts n deletions at now (Unix ns).
func (c *TableCounts) deleted(n uint64, now int64) {
	if n > 0 {
		c.Deletes += n
		c.LastDelete = now
	}
}
