package services

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// LogRing keeps the last N log records of one service. Readers poll by
// sequence number, so a follower never misses a record that is still in the
// ring and knows exactly how many it missed when it fell behind.
type LogRing struct {
	mu      sync.Mutex
	buf     []LogEntry
	next    uint64 // sequence number of the next record
	changed chan struct{}
}

// NewLogRing returns a ring holding at most size records.
func NewLogRing(size int) *LogRing {
	if size <= 0 {
		size = 1
	}
	return &LogRing{buf: make([]LogEntry, size), changed: make(chan struct{})}
}

func (r *LogRing) add(e LogEntry) {
	r.mu.Lock()
	e.Seq = r.next
	r.buf[r.next%uint64(len(r.buf))] = e
	r.next++
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Since returns the records with Seq >= since still in the ring, the number
// of requested records that already fell out, and the next sequence number.
func (r *LogRing) Since(since uint64) (entries []LogEntry, dropped, next uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	oldest := uint64(0)
	if r.next > uint64(len(r.buf)) {
		oldest = r.next - uint64(len(r.buf))
	}
	if since < oldest {
		dropped = oldest - since
		since = oldest
	}
	for s := since; s < r.next; s++ {
		entries = append(entries, r.buf[s%uint64(len(r.buf))])
	}
	return entries, dropped, r.next
}

// Wait blocks until a record with Seq >= seq exists or ctx is done.
func (r *LogRing) Wait(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		if r.next > seq {
			r.mu.Unlock()
			return nil
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ringHandler is a slog.Handler that records into a LogRing and forwards to
// the daemon's handler.
type ringHandler struct {
	ring   *LogRing
	next   slog.Handler
	pre    map[string]string // attributes added by WithAttrs, already flattened
	groups []string
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// The ring keeps debug records too: the console is where one looks for them.
	return l >= slog.LevelDebug
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	e := LogEntry{Time: rec.Time, Level: rec.Level.String(), Msg: rec.Message}
	add := func(a slog.Attr) {
		if e.Attrs == nil {
			e.Attrs = make(map[string]string)
		}
		flattenAttr(e.Attrs, h.groups, a)
	}
	for k, v := range h.pre {
		if e.Attrs == nil {
			e.Attrs = make(map[string]string, len(h.pre))
		}
		e.Attrs[k] = v
	}
	rec.Attrs(func(a slog.Attr) bool { add(a); return true })
	h.ring.add(e)
	if h.next != nil && h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func flattenAttr(m map[string]string, groups []string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := groups
		if a.Key != "" {
			g = append(append([]string(nil), groups...), a.Key)
		}
		for _, ga := range a.Value.Group() {
			flattenAttr(m, g, ga)
		}
		return
	}
	key := a.Key
	for i := len(groups) - 1; i >= 0; i-- {
		key = groups[i] + "." + key
	}
	m[key] = fmt.Sprint(a.Value.Any())
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.pre = make(map[string]string, len(h.pre)+len(as))
	for k, v := range h.pre {
		c.pre[k] = v
	}
	for _, a := range as {
		flattenAttr(c.pre, h.groups, a)
	}
	if h.next != nil {
		c.next = h.next.WithAttrs(as)
	}
	return &c
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(append([]string(nil), h.groups...), name)
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}
