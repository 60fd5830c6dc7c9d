package rmon

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"
)

// The NIC's own RMON error counters (ethtool's "rmon" and "eth-mac" stats
// groups): frames with a bad FCS, fragments and jabbers never reach the
// core, so where the driver counts them the probe adds them to
// etherStats; elsewhere (veth, TAP, virtio) those stay 0 and the source
// reads "core".

// nicErrors are the counters the probe takes from the NIC.
type nicErrors struct {
	CRCAlign, Fragments, Jabbers uint64
}

// ethtool netlink (include/uapi/linux/ethtool_netlink.h).
const (
	ethtoolMsgStatsGet    = 32
	ethtoolAStatsHeader   = 2
	ethtoolAStatsGroups   = 3
	ethtoolAStatsGrp      = 4
	ethtoolAHeaderDevName = 2
	ethtoolABitsetNomask  = 1
	ethtoolABitsetSize    = 2
	ethtoolABitsetValue   = 4
	ethtoolStatsEthMAC    = 1
	ethtoolStatsRMON      = 3
	ethtoolStatsCount     = 4
	ethtoolAGrpID         = 2
	ethtoolAGrpStat       = 4
	ethtoolRMONFrag       = 2
	ethtoolRMONJabber     = 3
	ethtoolMACFCSErr      = 4
	ethtoolMACAlignErr    = 5
	nlaTypeMask           = 0x3fff
)

// errShortAttr is a netlink attribute that does not fit its message.
var errShortAttr = errors.New("rmon: ethtool reply: attribute out of bounds")

// nlAttrs splits netlink attributes (type without flags, payload).
func nlAttrs(b []byte) ([]syscall.NetlinkRouteAttr, error) {
	var out []syscall.NetlinkRouteAttr
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return nil, errShortAttr
		}
		out = append(out, syscall.NetlinkRouteAttr{
			Attr:  syscall.RtAttr{Len: uint16(l), Type: binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask},
			Value: b[4:l],
		})
		b = b[min(len(b), (l+3)&^3):]
	}
	return out, nil
}

// parseNICStats decodes an ETHTOOL_MSG_STATS_GET reply (from its genetlink
// header on); ok is false when the driver reported none of the counters.
func parseNICStats(b []byte) (n nicErrors, ok bool, err error) {
	if len(b) < 4 {
		return n, false, errors.New("rmon: ethtool reply: short")
	}
	attrs, err := nlAttrs(b[4:])
	if err != nil {
		return n, false, err
	}
	for _, a := range attrs {
		if a.Attr.Type != ethtoolAStatsGrp {
			continue
		}
		sub, err := nlAttrs(a.Value)
		if err != nil {
			return n, false, err
		}
		id := -1
		vals := map[uint16]uint64{}
		for _, s := range sub {
			switch s.Attr.Type {
			case ethtoolAGrpID:
				if len(s.Value) >= 4 {
					id = int(binary.NativeEndian.Uint32(s.Value))
				}
			case ethtoolAGrpStat:
				st, err := nlAttrs(s.Value)
				if err != nil {
					return n, false, err
				}
				for _, v := range st {
					if len(v.Value) == 8 {
						vals[v.Attr.Type] = binary.NativeEndian.Uint64(v.Value)
					}
				}
			}
		}
		take := func(dst *uint64, stat uint16) {
			if v, have := vals[stat]; have {
				*dst += v
				ok = true
			}
		}
		switch id {
		case ethtoolStatsRMON:
			take(&n.Fragments, ethtoolRMONFrag)
			take(&n.Jabbers, ethtoolRMONJabber)
		case ethtoolStatsEthMAC:
			take(&n.CRCAlign, ethtoolMACFCSErr)
			take(&n.CRCAlign, ethtoolMACAlignErr)
		}
	}
	return n, ok, nil
}

// nicState is a port's NIC counters as the probe counts them: what the
// NIC counted since the probe first read it, carried over resets.
type nicState struct {
	cur    atomic.Pointer[nicErrors]
	prev   nicErrors
	primed bool
	source string // "nic" or "core", as last logged
	// nextTry: a NIC without counters is asked again only now and then.
	nextTry time.Time
}

// add folds a reading in (one poller per port).
func (s *nicState) add(r nicErrors) {
	if !s.primed {
		s.prev, s.primed = r, true
		s.cur.Store(&nicErrors{})
		return
	}
	acc := *s.cur.Load()
	step := func(a *uint64, now, before uint64) {
		if now >= before {
			*a += now - before
		} else {
			*a += now // the NIC's counters started over
		}
	}
	step(&acc.CRCAlign, r.CRCAlign, s.prev.CRCAlign)
	step(&acc.Fragments, r.Fragments, s.prev.Fragments)
	step(&acc.Jabbers, r.Jabbers, s.prev.Jabbers)
	s.prev = r
	s.cur.Store(&acc)
}

// errorSource says where a port's CRC, fragment and jabber counts come from.
func (pt *port) errorSource() string {
	if pt.nic.cur.Load() != nil {
		return "nic"
	}
	return "core"
}

// pollNIC reads the NIC counters of the present core ports every interval
// until ctx ends, and logs each port's source when it is first known or
// changes.
func pollNIC(ctx context.Context, p *probe, log *slog.Logger, interval time.Duration) {
	every(ctx, interval, true, func() {
		for _, pt := range p.portList() {
			cp := pt.core()
			if cp.view != nil || time.Now().Before(pt.nic.nextTry) {
				continue
			}
			r, ok, err := readNIC(cp.netns(), cp.Name())
			if ok {
				pt.nic.add(r)
			} else {
				pt.nic.nextTry = time.Now().Add(30 * time.Second) // a new driver (link re-added) is seen within 30 s
			}
			if src := pt.errorSource(); src != pt.nic.source {
				pt.nic.source = src
				if src == "nic" {
					log.Info("rmon: CRC/alignment, fragment and jabber counts from the NIC's own counters", "port", cp.Name())
				} else {
					log.Info("rmon: the NIC has no RMON error counters; CRC/alignment, fragments and jabbers stay 0 (frames with those errors never reach the core)",
						"port", cp.Name(), "err", err)
				}
			}
		}
	})
}
