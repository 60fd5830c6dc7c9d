package rmon

import (
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// RMON2 protocol directory and distribution (RFC 4502 sections 4, 5).
var (
	protocolDirLastChange = rmonOID.Append(11, 1)
	protocolDirEntry      = rmonOID.Append(11, 2, 1)
	protocolDistCtlEntry  = rmonOID.Append(12, 1, 1)
	protocolDistStatEntry = rmonOID.Append(12, 2, 1)
)

// protoDef is one protocolDir entry: its protocolDirID (4 octets per
// layer, RFC 2895) and a description; parameters are one zero octet per
// layer.
type protoDef struct {
	id    []byte
	descr string
	// protocolDirType (bit 1: addressRecognitionCapable) and the
	// AddressMapConfig and Host/MatrixConfig values: notSupported(1) or
	// supportedOn(3).
	dirType             byte
	addrMap, hostMatrix int64
}

var (
	ether2 = []byte{0, 0, 0, 1}
	ipv4   = append(append([]byte{}, ether2...), 0, 0, 8, 0)
	ipv6   = append(append([]byte{}, ether2...), 0, 0, 0x86, 0xdd)
)

// protoDefs are in stats' protocol order (local index = position + 1).
var protoDefs = [stats.NumProtos]protoDef{
	stats.ProtoEther2:   {ether2, "ether2", 0x40, 1, 1},
	stats.ProtoIP:       {ipv4, "ip", 0x40, 3, 3},
	stats.ProtoIPv6:     {ipv6, "ipv6", 0x40, 3, 3},
	stats.ProtoARP:      {append(append([]byte{}, ether2...), 0, 0, 8, 6), "arp", 0, 1, 1},
	stats.ProtoIPTCP:    {append(append([]byte{}, ipv4...), 0, 0, 0, 6), "tcp", 0, 1, 3},
	stats.ProtoIPUDP:    {append(append([]byte{}, ipv4...), 0, 0, 0, 17), "udp", 0, 1, 3},
	stats.ProtoIPICMP:   {append(append([]byte{}, ipv4...), 0, 0, 0, 1), "icmp", 0, 1, 3},
	stats.ProtoIPv6TCP:  {append(append([]byte{}, ipv6...), 0, 0, 0, 6), "tcp (ipv6)", 0, 1, 3},
	stats.ProtoIPv6UDP:  {append(append([]byte{}, ipv6...), 0, 0, 0, 17), "udp (ipv6)", 0, 1, 3},
	stats.ProtoIPv6ICMP: {append(append([]byte{}, ipv6...), 0, 0, 0, 58), "icmpv6", 0, 1, 3},
}

// protoIndex is protocolDirTable's index: the ID and the parameters, both
// length-prefixed octet strings.
func protoIndex(d protoDef) mib.OID {
	o := mib.OID{uint32(len(d.id))}
	for _, b := range d.id {
		o = append(o, uint32(b))
	}
	o = append(o, uint32(len(d.id)/4))
	for range len(d.id) / 4 {
		o = append(o, 0)
	}
	return o
}

// registerRMON2 serves protocolDir (the probe's fixed protocols:
// read-only) and protocolDist (RowStatus control rows, a "monitor" row
// per port).
func (p *probe) registerRMON2(tree *mib.Tree) {
	idx := make([]mib.OID, 0, len(protoDefs))
	byIdx := map[string]int{}
	for i, d := range protoDefs {
		o := protoIndex(d)
		idx = append(idx, o)
		byIdx[o.String()] = i
	}
	sortOIDs(idx)
	tree.Register(protocolDirLastChange, mib.Single(func() mib.Value { return mib.TimeTicks(0) }))
	tree.Register(protocolDirEntry, &mib.Table{
		Cols:  seq(3, 10),
		Index: func() []mib.OID { return idx },
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			i, ok := byIdx[index.String()]
			if !ok {
				return mib.Value{}, false
			}
			switch col {
			case 3:
				return mib.Integer(int64(i + 1)), true
			case 4:
				return mib.String(protoDefs[i].descr), true
			case 5:
				return mib.OctetString([]byte{protoDefs[i].dirType}), true
			case 6:
				return mib.Integer(protoDefs[i].addrMap), true
			case 7, 8:
				return mib.Integer(protoDefs[i].hostMatrix), true
			case 9:
				return mib.String(monitorOwner), true
			}
			return mib.Integer(rsActive), true
		},
	})
	p.protoDist = newCtlTable(p, p.sourceHooks(&ctlSpec{
		name: "protocolDistControlTable", cols: seq(2, 6), statusCol: 6, rowStatus: true,
		writable: map[uint32]ctlCol{
			2: {check: p.checkDataSource, frozen: true},
			5: ownerCol,
		},
		activate: func(r *ctlRow) {
			pt := p.portOf(r.vals[2])
			rt := &distRT{pt: pt, created: p.uptime()}
			if r.str(5) != monitorOwner {
				rt.base = pt.st.Protocols()
			}
			r.rt = rt
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			rt := r.rt.(*distRT)
			switch col {
			case 3:
				e, _, _ := rt.pt.st.EtherSnapshot()
				return mib.Counter32(e.DropEvents), true
			case 4:
				return mib.TimeTicks(rt.created), true
			}
			return mib.Value{}, false
		},
	}))
	tree.Register(protocolDistCtlEntry, p.protoDist.handler())
	tree.Register(protocolDistStatEntry, &mib.Table{
		Cols: []uint32{1, 2},
		Index: func() []mib.OID {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.protoDist.derivedIndex(func() []mib.OID {
				var out []mib.OID
				for _, r := range p.protoDist.valid() {
					for i := range protoDefs {
						out = append(out, mib.OID{uint32(r.index), uint32(i + 1)})
					}
				}
				return out
			})
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(index) != 2 || index[1] < 1 || int(index[1]) > len(protoDefs) {
				return mib.Value{}, false
			}
			r := p.protoDist.rows[int32(index[0])]
			if r == nil || r.status != statusValid {
				return mib.Value{}, false
			}
			rt := r.rt.(*distRT)
			c := rt.pt.st.Protocols()[index[1]-1]
			b := rt.base[index[1]-1]
			if col == 1 {
				return zbc32(c.Pkts - b.Pkts), true
			}
			return zbc32(c.Octets - b.Octets), true
		},
	})
}

type distRT struct {
	pt      *port
	base    [stats.NumProtos]stats.Counter
	created uint64
}
