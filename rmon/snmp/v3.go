package snmp

import (
	"encoding/binary"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
)

// OIDs of the counters reports carry.
var (
	usmStatsOID   = mib.MustOID("1.3.6.1.6.3.15.1.1")
	snmpEngineOID = mib.MustOID("1.3.6.1.6.3.10.2.1")
	snmpMPDStats  = mib.MustOID("1.3.6.1.6.3.11.2.1")
	snmpGroupOID  = mib.MustOID("1.3.6.1.2.1.11")
)

// handleV3 runs the USM checks of RFC 3414 section 3.2 in order, answering
// a failed check with a Report when the request is reportable.
func (a *Agent) handleV3(raw []byte, m *Message) []byte {
	if m.SecModel != 3 {
		a.UnknownSecurityModels.Add(1)
		return nil
	}
	level := m.Flags & (flagAuth | flagPriv)
	if level == flagPriv || m.MaxSize < 484 || m.MaxSize > 1<<31-1 {
		a.InvalidMsgs.Add(1)
		return nil
	}
	// A report carries the request-id only when the PDU could be read.
	report := func(stat int, u *user, lvl byte) []byte {
		a.usmStats[stat].Add(1)
		if m.Flags&flagReportable == 0 {
			return nil
		}
		p := &PDU{Type: gosnmp.Report, RequestID: m.PDU.RequestID, VarBinds: []VarBind{{
			usmStatsOID.Append(uint32(stat), 0), mib.Counter32(a.usmStats[stat].Load()),
		}}}
		if m.Encrypted != nil {
			p.RequestID = 0
		}
		if u == nil {
			u = &user{name: string(m.User)}
		}
		return a.encodeV3(m, u, lvl, p)
	}
	if !a.isOurEngine(m.EngineID) {
		return report(usmUnknownEngineIDs, nil, 0)
	}
	u := a.users[string(m.User)]
	if u == nil {
		return report(usmUnknownUserNames, nil, 0)
	}
	if level&^u.level() != 0 {
		return report(usmUnsupportedSecLevels, nil, 0)
	}
	if level&flagAuth != 0 {
		if !u.verify(raw, m) {
			return report(usmWrongDigests, nil, 0)
		}
		if m.Boots != a.boots || m.Boots >= maxBoots || abs(m.Time-a.EngineTime()) > timeWindow {
			return report(usmNotInTimeWindows, u, flagAuth)
		}
	}
	if level&flagPriv != 0 {
		plain := make([]byte, len(m.Encrypted))
		copy(plain, m.Encrypted)
		if u.cfb(plain, uint32(m.Boots), uint32(m.Time), m.PrivParams, true) != nil || m.decodeScoped(newReader(plain)) != nil {
			return report(usmDecryptionErrors, nil, 0)
		}
		m.Encrypted = nil
	}
	switch m.PDU.Type {
	case gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.GetBulkRequest, gosnmp.SetRequest:
	default:
		a.UnknownPDUHandlers.Add(1)
		return nil
	}
	limit := min(a.maxSize, int(m.MaxSize))
	var resp *PDU
	if level < u.level() {
		// The user's views are granted only at its own security level.
		resp = &PDU{Type: gosnmp.GetResponse, RequestID: m.PDU.RequestID,
			ErrorStatus: int64(mib.AuthorizationError), ErrorIndex: 0, VarBinds: m.PDU.VarBinds}
	} else {
		resp = a.process(V3, &m.PDU, u.access, limit-a.v3Overhead(m, u))
	}
	out := a.encodeV3(m, u, level, resp)
	if len(out) > limit {
		out = a.encodeV3(m, u, level, a.tooBig(V3, &m.PDU))
		if len(out) > limit {
			a.SilentDrops.Add(1)
			return nil
		}
	}
	return out
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// v3Overhead bounds the bytes a v3 message adds around its PDU.
func (a *Agent) v3Overhead(m *Message, u *user) int {
	return 4 + 3 + 18 + // message sequence, version, header data
		4 + 4 + len(a.engineID) + 6 + 6 + 2 + len(u.name) + 2 + u.macLen + 10 + // security parameters
		4 + 4 + 2 + len(a.engineID) + 2 + len(m.ContextName) // encryption wrapper, scoped PDU
}

// encodeV3 builds a v3 response or report at security level lvl for u.
func (a *Agent) encodeV3(m *Message, u *user, lvl byte, p *PDU) []byte {
	w := newWriter(1024)
	w.pdu(p)
	w.octets(byte(gosnmp.OctetString), m.ContextName)
	w.octets(byte(gosnmp.OctetString), a.engineID)
	w.header(byte(gosnmp.Sequence), w.Len())
	boots, etime := uint32(a.boots), uint32(a.EngineTime())
	var salt [8]byte
	if lvl&flagPriv != 0 {
		binary.BigEndian.PutUint64(salt[:], a.salt.Add(1))
		_ = u.cfb(w.Bytes(), boots, etime, salt[:], false)
		w.header(byte(gosnmp.OctetString), w.Len())
	}
	dataLen := w.Len()
	if lvl&flagPriv != 0 {
		w.octets(byte(gosnmp.OctetString), salt[:])
	} else {
		w.octets(byte(gosnmp.OctetString), nil)
	}
	authFromEnd := 0
	if lvl&flagAuth != 0 {
		w.prepend(make([]byte, u.macLen)...)
		authFromEnd = w.Len()
		w.header(byte(gosnmp.OctetString), u.macLen)
	} else {
		w.octets(byte(gosnmp.OctetString), nil)
	}
	w.octets(byte(gosnmp.OctetString), []byte(u.name))
	w.integer(byte(gosnmp.Integer), int64(etime))
	w.integer(byte(gosnmp.Integer), int64(boots))
	w.octets(byte(gosnmp.OctetString), a.engineID)
	w.header(byte(gosnmp.Sequence), w.Len()-dataLen)
	w.header(byte(gosnmp.OctetString), w.Len()-dataLen)
	hdrEnd := w.Len()
	w.integer(byte(gosnmp.Integer), 3)
	w.octets(byte(gosnmp.OctetString), []byte{lvl})
	w.integer(byte(gosnmp.Integer), int64(a.maxSize))
	w.integer(byte(gosnmp.Integer), int64(m.MsgID))
	w.header(byte(gosnmp.Sequence), w.Len()-hdrEnd)
	w.integer(byte(gosnmp.Integer), V3)
	w.header(byte(gosnmp.Sequence), w.Len())
	out := w.Bytes()
	if lvl&flagAuth != 0 {
		off := len(out) - authFromEnd
		copy(out[off:off+u.macLen], u.mac(out))
	}
	return out
}

// registerMIBs serves the agent's own counters: the snmp group (RFC 3418),
// snmpEngine (RFC 3411), snmpMPDStats (RFC 3412) and usmStats (RFC 3414).
func (a *Agent) registerMIBs() {
	c := func(v interface{ Load() uint64 }) mib.Scalar {
		return mib.Scalar{Get: func() mib.Value { return mib.Counter32(v.Load()) }}
	}
	a.tree.Register(snmpGroupOID, mib.Scalars{
		1: c(&a.InPkts), 2: c(&a.OutPkts), 3: c(&a.InBadVersions), 4: c(&a.InBadCommunityNames),
		5: c(&a.InBadCommunityUses), 6: c(&a.InASNParseErrs),
		30: {Get: func() mib.Value { return mib.Integer(2) }}, // snmpEnableAuthenTraps: disabled
		31: c(&a.SilentDrops), 32: {Get: func() mib.Value { return mib.Counter32(0) }},
	})
	a.tree.Register(snmpEngineOID, mib.Scalars{
		1: {Get: func() mib.Value { return mib.OctetString(a.engineID) }},
		2: {Get: func() mib.Value { return mib.Integer(a.boots) }},
		3: {Get: func() mib.Value { return mib.Integer(a.EngineTime()) }},
		4: {Get: func() mib.Value { return mib.Integer(int64(a.maxSize)) }},
	})
	a.tree.Register(snmpMPDStats, mib.Scalars{
		1: c(&a.UnknownSecurityModels), 2: c(&a.InvalidMsgs), 3: c(&a.UnknownPDUHandlers),
	})
	s := mib.Scalars{}
	for i := 1; i <= 6; i++ {
		s[uint32(i)] = c(&a.usmStats[i])
	}
	a.tree.Register(usmStatsOID, s)
}
