package snmp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
)

// Community is a v1/v2c community with its views and allowed sources.
type Community struct {
	Name string
	// Read and Write are the view subtrees; an empty list allows nothing.
	Read, Write []mib.OID
	// Sources, if not empty, are the only source prefixes accepted.
	Sources []netip.Prefix
}

// User is an SNMPv3 USM user.
type User struct {
	Name     string
	Auth     gosnmp.SnmpV3AuthProtocol
	AuthPass string
	Priv     gosnmp.SnmpV3PrivProtocol
	PrivPass string
	// Read and Write are the view subtrees; an empty list allows nothing.
	Read, Write []mib.OID
}

// Config configures an Agent.
type Config struct {
	Communities []Community
	Users       []User
	// EngineID is the snmpEngineID; Boots is this run's snmpEngineBoots
	// (the caller persists both: see rmon's state file).
	EngineID []byte
	Boots    int64
	// MaxMessageSize bounds v2c and v3 responses (default 65507, the
	// largest UDP payload); V1MaxMessageSize bounds v1 (default 484).
	MaxMessageSize, V1MaxMessageSize int
	Log                              *slog.Logger
	// Start is when the engine started (snmpEngineTime 0); zero: now. An
	// agent rebuilt in the same run keeps its engine's time.
	Start time.Time
}

type access struct {
	read, write []mib.OID
	sources     []netip.Prefix
}

func inView(view []mib.OID, o mib.OID) bool {
	for _, v := range view {
		if o.HasPrefix(v) {
			return true
		}
	}
	return false
}

// subtreeMayHave reports whether some OID after o could still be in view.
func viewAfter(view []mib.OID, o mib.OID) bool {
	for _, v := range view {
		if v.Compare(o) > 0 || o.HasPrefix(v) {
			return true
		}
	}
	return false
}

// Agent is an SNMP command responder over a MIB tree. Requests are
// handled one at a time (Serve reads one socket), so handlers see each
// SET as a whole.
type Agent struct {
	tree        *mib.Tree
	log         *slog.Logger
	engineID    []byte
	boots       int64
	start       atomic.Int64 // UnixNano of the engine's start (moved by tests)
	maxSize     int
	v1MaxSize   int
	communities map[string]*access
	users       map[string]*user
	salt        atomic.Uint64

	// snmp group (RFC 3418) and engine counters.
	InPkts, OutPkts, InBadVersions, InBadCommunityNames, InBadCommunityUses, InASNParseErrs atomic.Uint64
	SilentDrops, UnknownSecurityModels, InvalidMsgs, UnknownPDUHandlers                     atomic.Uint64
	usmStats                                                                                [7]atomic.Uint64
}

// NewAgent makes an agent serving tree.
func NewAgent(cfg Config, tree *mib.Tree) (*Agent, error) {
	a := &Agent{
		tree: tree, log: cfg.Log, engineID: cfg.EngineID, boots: cfg.Boots,
		maxSize: cfg.MaxMessageSize, v1MaxSize: cfg.V1MaxMessageSize,
		communities: map[string]*access{}, users: map[string]*user{},
	}
	a.start.Store(time.Now().UnixNano())
	if !cfg.Start.IsZero() {
		a.start.Store(cfg.Start.UnixNano())
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxSize <= 0 || a.maxSize > 65507 {
		a.maxSize = 65507
	}
	if a.v1MaxSize <= 0 {
		a.v1MaxSize = 484
	}
	if len(a.engineID) < 5 || len(a.engineID) > 32 {
		return nil, fmt.Errorf("snmp: engine ID of %d bytes (want 5..32)", len(a.engineID))
	}
	if a.boots < 1 || a.boots > maxBoots {
		return nil, fmt.Errorf("snmp: engine boots %d out of range", a.boots)
	}
	var s [8]byte
	rand.Read(s[:])
	a.salt.Store(binary.BigEndian.Uint64(s[:]))
	for _, c := range cfg.Communities {
		if c.Name == "" {
			return nil, errors.New("snmp: empty community name")
		}
		a.communities[c.Name] = &access{read: c.Read, write: c.Write, sources: c.Sources}
	}
	for _, u := range cfg.Users {
		nu, err := newUser(u, a.engineID, &access{read: u.Read, write: u.Write})
		if err != nil {
			return nil, err
		}
		a.users[u.Name] = nu
	}
	a.registerMIBs()
	return a, nil
}

// EngineID is the agent's snmpEngineID.
func (a *Agent) EngineID() []byte { return a.engineID }

// EngineTime is snmpEngineTime: seconds since this engine started.
func (a *Agent) EngineTime() int64 {
	return (time.Now().UnixNano() - a.start.Load()) / int64(time.Second)
}

// Uptime is the time since the agent started, for sysUpTime.
func (a *Agent) Uptime() time.Duration { return time.Duration(time.Now().UnixNano() - a.start.Load()) }

// USMStat returns usmStats counter n (1 unsupportedSecLevels .. 6 decryptionErrors).
func (a *Agent) USMStat(n int) uint64 { return a.usmStats[n].Load() }

// Serve answers requests on conn until ctx is done.
func (a *Agent) Serve(ctx context.Context, conn net.PacketConn) error {
	conn.SetReadDeadline(time.Time{}) // a previous Serve may have left one
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("snmp: read: %w", err)
		}
		var src netip.Addr
		if ua, ok := from.(*net.UDPAddr); ok {
			src, _ = netip.AddrFromSlice(ua.IP)
			src = src.Unmap()
		}
		if resp := a.Handle(buf[:n], src); resp != nil {
			if _, err := conn.WriteTo(resp, from); err != nil {
				a.log.Debug("snmp: send", "to", from, "err", err)
				continue
			}
			a.OutPkts.Add(1)
		}
	}
}

// Handle processes one request message from src and returns the response
// (nil: none).
func (a *Agent) Handle(b []byte, src netip.Addr) []byte {
	a.InPkts.Add(1)
	m, err := decodeMessage(b)
	if errors.Is(err, errBadVersion) {
		a.InBadVersions.Add(1)
		return nil
	}
	if err != nil {
		a.InASNParseErrs.Add(1)
		return nil
	}
	if m.Version == V3 {
		return a.handleV3(b, m)
	}
	acc := a.communities[string(m.Community)]
	if acc == nil || !sourceOK(acc.sources, src) {
		a.InBadCommunityNames.Add(1)
		return nil
	}
	switch m.PDU.Type {
	case gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.SetRequest:
	case gosnmp.GetBulkRequest:
		if m.Version == V1 {
			a.InASNParseErrs.Add(1)
			return nil
		}
	default:
		a.UnknownPDUHandlers.Add(1)
		return nil
	}
	limit := a.maxSize
	if m.Version == V1 {
		limit = a.v1MaxSize
	}
	overhead := 2 + 3 + headerLen(len(m.Community)) + len(m.Community) + 2 // seq hdr slack, version, community
	resp := a.process(m.Version, &m.PDU, acc, limit-overhead)
	if st := gosnmp.SNMPError(resp.ErrorStatus); st == mib.NoAccess || (m.Version == V1 && m.PDU.Type == gosnmp.SetRequest && !writable(acc, &m.PDU)) {
		a.InBadCommunityUses.Add(1)
	}
	out := encodeCommunity(m.Version, m.Community, resp)
	if len(out) > limit {
		out = encodeCommunity(m.Version, m.Community, a.tooBig(m.Version, &m.PDU))
		if len(out) > limit {
			a.SilentDrops.Add(1)
			return nil
		}
	}
	return out
}

// writable reports whether the community may write every varbind of p.
func writable(acc *access, p *PDU) bool {
	for _, vb := range p.VarBinds {
		if !inView(acc.write, vb.OID) {
			return false
		}
	}
	return true
}

func sourceOK(ps []netip.Prefix, a netip.Addr) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (a *Agent) tooBig(version int, req *PDU) *PDU {
	r := &PDU{Type: gosnmp.GetResponse, RequestID: req.RequestID, ErrorStatus: int64(mib.TooBig)}
	if version == V1 {
		// RFC 1157 4.1.2: a response of identical form to the request.
		r.VarBinds = req.VarBinds
	}
	return r
}

// process runs a request PDU against the tree; budget is the space left
// for the PDU in the response message.
func (a *Agent) process(version int, req *PDU, acc *access, budget int) *PDU {
	resp := &PDU{Type: gosnmp.GetResponse, RequestID: req.RequestID}
	fail := func(st gosnmp.SNMPError, idx int) *PDU {
		resp.ErrorStatus, resp.ErrorIndex = int64(v1Error(version, st)), int64(idx)
		resp.VarBinds = req.VarBinds
		return resp
	}
	switch req.Type {
	case gosnmp.GetRequest:
		resp.VarBinds = make([]VarBind, len(req.VarBinds))
		for i, vb := range req.VarBinds {
			v := mib.NoSuchObject
			if inView(acc.read, vb.OID) {
				v = a.tree.Get(vb.OID)
			}
			if version == V1 && (isException(v) || v.Type == gosnmp.Counter64) {
				return fail(mib.NoSuchName, i+1)
			}
			resp.VarBinds[i] = VarBind{vb.OID, v}
		}
	case gosnmp.GetNextRequest:
		resp.VarBinds = make([]VarBind, len(req.VarBinds))
		for i, vb := range req.VarBinds {
			o, v, ok := a.next(version, acc, vb.OID)
			if !ok {
				if version == V1 {
					return fail(mib.NoSuchName, i+1)
				}
				o, v = vb.OID, mib.EndOfMibView
			}
			resp.VarBinds[i] = VarBind{o, v}
		}
	case gosnmp.GetBulkRequest:
		a.bulk(req, resp, acc, budget)
	case gosnmp.SetRequest:
		for i, vb := range req.VarBinds {
			if !inView(acc.write, vb.OID) {
				return fail(mib.NoAccess, i+1)
			}
		}
		tx := &mib.Txn{CanRead: func(o mib.OID) bool { return inView(acc.read, o) }}
		for i, vb := range req.VarBinds {
			tx.Cur = i + 1
			v := vb.Value
			v.Bytes = bytes.Clone(v.Bytes) // the request buffer is reused; handlers may keep values
			if st := a.tree.Set(tx, vb.OID, v); st != mib.NoError {
				return fail(st, i+1)
			}
		}
		if st, idx := tx.Finish(); st != mib.NoError {
			return fail(st, idx)
		}
		resp.VarBinds = req.VarBinds
	}
	return resp
}

func isException(v mib.Value) bool {
	return v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance || v.Type == gosnmp.EndOfMibView
}

// v1Error maps SNMPv2 error statuses to SNMPv1 ones (RFC 3584 4.4).
func v1Error(version int, st gosnmp.SNMPError) gosnmp.SNMPError {
	if version != V1 {
		return st
	}
	switch st {
	case mib.WrongValue, gosnmp.WrongEncoding, mib.WrongType, mib.WrongLength, mib.InconsistentValue:
		return mib.BadValue
	case mib.NoAccess, mib.NotWritable, mib.NoCreation, mib.InconsistentName, mib.AuthorizationError:
		return mib.NoSuchName
	case mib.ResourceUnavailable, gosnmp.CommitFailed, gosnmp.UndoFailed:
		return mib.GenErr
	}
	return st
}

// next finds the next instance after o that the view allows (and, for v1,
// that is not a Counter64: RFC 3584 4.2.2.1).
func (a *Agent) next(version int, acc *access, o mib.OID) (mib.OID, mib.Value, bool) {
	for {
		n, v, ok := a.tree.Next(o)
		if !ok {
			return nil, v, false
		}
		if inView(acc.read, n) && !(version == V1 && v.Type == gosnmp.Counter64) {
			return n, v, true
		}
		if !viewAfter(acc.read, n) {
			return nil, v, false
		}
		o = n
	}
}

// bulk answers a GetBulk (RFC 3416 4.2.3), stopping before the response
// exceeds budget.
func (a *Agent) bulk(req, resp *PDU, acc *access, budget int) {
	n := len(req.VarBinds)
	nonRep := int(min(max(req.ErrorStatus, 0), int64(n)))
	maxRep := int(min(max(req.ErrorIndex, 0), 65535))
	used := 0
	add := func(vb VarBind) bool {
		l := varbindLen(vb.OID, vb.Value)
		if pduLen(resp, used+l) > budget {
			return false
		}
		used += l
		resp.VarBinds = append(resp.VarBinds, vb)
		return true
	}
	for _, vb := range req.VarBinds[:nonRep] {
		o, v, ok := a.next(V2c, acc, vb.OID)
		if !ok {
			o, v = vb.OID, mib.EndOfMibView
		}
		if !add(VarBind{o, v}) {
			if len(resp.VarBinds) == 0 {
				a.bulkTooBig(resp)
			}
			return
		}
	}
	cur := make([]mib.OID, 0, n-nonRep)
	for _, vb := range req.VarBinds[nonRep:] {
		cur = append(cur, vb.OID)
	}
	for r := 0; r < maxRep && len(cur) > 0; r++ {
		ended := 0
		for j, o := range cur {
			no, v, ok := a.next(V2c, acc, o)
			if !ok {
				no, v = o, mib.EndOfMibView
				ended++
			}
			if !add(VarBind{no, v}) {
				if len(resp.VarBinds) == 0 {
					a.bulkTooBig(resp)
				}
				return
			}
			cur[j] = no
		}
		if ended == len(cur) {
			return
		}
	}
}

func (a *Agent) bulkTooBig(resp *PDU) {
	resp.VarBinds = nil
	resp.ErrorStatus = int64(mib.TooBig)
}

// isOurEngine reports whether id names this engine.
func (a *Agent) isOurEngine(id []byte) bool { return bytes.Equal(id, a.engineID) }
