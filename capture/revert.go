package capture

import "github.com/wirebox/wirebox/tap"

// RevertAll reverts a batch of owned frames, as Revert on each: every one
// continues to the next owner subscriber of its port, else takes the
// port's default action. It holds a port's dispatch lock once per run of
// frames received on that port, wakes its subscribers once, and gives the
// frames the default action drops back to the pool in one step (a tap
// application's input tap returns frames in batches of hundreds; one
// Revert each took and dropped the lock, woke subscribers and pushed onto
// the shared free list per frame).
func RevertAll(frames []Frame) {
	var r tap.Releaser
	var pool *tap.Pool
	for i := 0; i < len(frames); {
		f := frames[i]
		if f.c == nil {
			i++
			continue
		}
		p := f.Port()
		if f.eg != nil || f.dir != RX || p == nil {
			f.Revert()
			i++
			continue
		}
		if pool != nil && pool != p.c.pool {
			r.Flush(pool)
		}
		pool = p.c.pool
		// Ports whose default action only drops the frame: drop it here,
		// in the batch.
		drops := p.cfg.Mode != Bypass || p.cfg.Forward == ""
		var unclaimed uint64
		p.dispatch.RLock()
		l := p.subs.Load()
		for ; i < len(frames); i++ {
			f = frames[i]
			if f.c != p.c || f.eg != nil || f.dir != RX || f.Port() != p {
				break
			}
			if !f.give() {
				continue
			}
			next := -1
			o := pool.Owner(f.id)
			for j, s := range l.owners {
				if s.owner == o {
					next = j + 1
					break
				}
			}
			switch {
			case next >= 0 && next < len(l.owners):
				p.offerOwners(l, f.id, next)
			case drops:
				pool.SetOwner(f.id, tap.OwnerCore)
				if p.cfg.Mode == Bypass {
					unclaimed++
				}
				r.Unref(pool, f.id)
			default:
				p.defaultAction(f.id)
			}
		}
		p.dispatch.RUnlock()
		if unclaimed > 0 {
			p.unclaimed.Add(unclaimed)
		}
		p.wakeSubscribers()
	}
	if pool != nil {
		r.Flush(pool)
	}
}
