package rmon

import (
	"slices"
	"sort"

	"github.com/wirebox/wirebox/rmon/mib"
)

// tfHandler serves a time-filtered table (RFC 4502 TimeFilter). The built
// rows' indexes are the basic ones, without the TimeFilter, which goes
// after their first lead components; rows[i][k] is cols[k]. An instance
// lead.N.rest exists when its row changed at or after sysUpTime N. A
// GETNEXT walks only the TimeFilter value it was given (0 for a new column
// or a new lead), as the TC recommends, so a walk passes once instead of
// once per past sysUpTime.
func tfHandler(p *probe, cols []uint32, lead int, get func() *built) mib.Handler {
	pos := func(c uint32) int {
		i, ok := slices.BinarySearch(cols, c)
		if !ok {
			return -1
		}
		return i
	}
	inst := func(b *built, i int, n uint32) mib.OID {
		o := append(mib.OID{}, b.idx[i][:lead]...)
		return append(append(o, n), b.idx[i][lead:]...)
	}
	return mib.Func{
		GetFn: func(suffix mib.OID) (mib.Value, bool) {
			if len(suffix) == 0 || pos(suffix[0]) < 0 {
				return mib.NoSuchObject, true
			}
			if len(suffix) < 2+lead {
				return mib.Value{}, false
			}
			in := suffix[1:]
			basic := append(append(mib.OID{}, in[:lead]...), in[lead+1:]...)
			p.mu.Lock()
			defer p.mu.Unlock()
			b := get()
			i, ok := slices.BinarySearchFunc(b.idx, basic, mib.OID.Compare)
			if !ok || b.changed[i] < uint64(in[lead]) {
				return mib.Value{}, false
			}
			return b.rows[i][pos(suffix[0])], true
		},
		NextFn: func(suffix mib.OID) (mib.OID, mib.Value, bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			b := get()
			for k, c := range cols {
				start := 0
				if len(suffix) > 0 {
					if c < suffix[0] {
						continue
					}
					if c == suffix[0] {
						in := suffix[1:]
						if len(in) > lead {
							// The same lead and TimeFilter value first.
							l, n := in[:lead], in[lead]
							after := append(append(mib.OID{}, l...), in[lead+1:]...)
							i := sort.Search(len(b.idx), func(j int) bool { return b.idx[j].Compare(after) > 0 })
							for ; i < len(b.idx) && b.idx[i].HasPrefix(l); i++ {
								if b.changed[i] >= uint64(n) {
									return append(mib.OID{c}, inst(b, i, n)...), b.rows[i][k], true
								}
							}
							start = i // the following leads, from TimeFilter 0
						} else {
							start = sort.Search(len(b.idx), func(j int) bool { return inst(b, j, 0).Compare(in) > 0 })
						}
					}
				}
				if start < len(b.idx) {
					return append(mib.OID{c}, inst(b, start, 0)...), b.rows[start][k], true
				}
			}
			return nil, mib.Value{}, false
		},
	}
}
