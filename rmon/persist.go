package rmon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/wirebox/wirebox/rmon/mib"
)

// Managers' rows outlive the service (a configuration applied over the
// API restarts every service; so does the daemon) when state_file is
// set: every control row and the ports' ifIndex by name are kept in
// rmon-rows.json beside it, written within a second of a change, and
// read back at the next start. Counters, buckets, reports, captures and
// logs start over.

// savedRows is rmon-rows.json.
type savedRows struct {
	Ports  map[string]int        `json:"ports"` // port key -> ifIndex
	Tables map[string][]savedRow `json:"tables"`
}

type savedRow struct {
	Index  int32                `json:"index"`
	Status int64                `json:"status"`
	Vals   map[uint32]mib.Value `json:"values"`
}

// rowsFile is where the rows of a service with state file state go.
func rowsFile(state string) string {
	if state == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(state), "rmon-rows.json")
}

// tablesInOrder are the control tables, each after those its rows may
// refer to (alarms last: their variables must resolve).
func (p *probe) tablesInOrder() []*ctlTable {
	return []*ctlTable{p.events, p.ether, p.history, p.hostCtl, p.matCtl, p.topN, p.protoDist, p.addrMapCtl,
		p.hlHostCtl, p.hlMatrixCtl, p.nlTopN.ctl, p.alTopN.ctl, p.usrHist, p.channels, p.filters, p.buffers, p.alarms}
}

// savedState copies the rows and ports (p.mu held).
func (p *probe) savedState() savedRows {
	s := savedRows{Ports: map[string]int{}, Tables: map[string][]savedRow{}}
	for k, pt := range p.byKey {
		s.Ports[k] = pt.ifIndex
	}
	for _, t := range p.tablesInOrder() {
		for _, o := range t.idx {
			r := t.rows[int32(o[0])]
			s.Tables[t.spec.name] = append(s.Tables[t.spec.name], savedRow{Index: r.index, Status: r.status, Vals: maps.Clone(r.vals)})
		}
	}
	return s
}

// saveRows writes the rows to path when they changed since the last save.
func (p *probe) saveRows(path string) error {
	p.mu.Lock()
	if p.rowsChanged == p.rowsSaved {
		p.mu.Unlock()
		return nil
	}
	s, gen := p.savedState(), p.rowsChanged
	p.mu.Unlock()
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("rmon: rows: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("rmon: rows: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rmon: rows: %w", err)
	}
	p.mu.Lock()
	p.rowsSaved = gen
	p.mu.Unlock()
	return nil
}

// acceptable reports whether saved values pass the checks a SET makes.
func (spec *ctlSpec) acceptable(vals map[uint32]mib.Value) bool {
	for col, v := range vals {
		if c, ok := spec.writable[col]; ok && c.check != nil && c.check(v) != mib.NoError {
			return false
		}
	}
	return true
}

// loadRows reads path (nothing when it does not exist).
func loadRows(path string) (*savedRows, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rmon: rows: %w", err)
	}
	return parseRows(b, path)
}

// parseRows decodes rmon-rows.json.
func parseRows(b []byte, path string) (*savedRows, error) {
	var s savedRows
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("rmon: rows %s: %w", path, err)
	}
	return &s, nil
}

// restore puts saved ports and rows back before the first setPorts: the
// ports keep their ifIndex (absent until the core has them), the rows
// their values; rows that were active wait for activateRestored.
func (p *probe) restore(s *savedRows) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, i := range s.Ports {
		if i < 1 || p.byKey[k] != nil {
			continue
		}
		p.byKey[k] = &port{ifIndex: i, key: k, st: newStats(p)}
		p.nextIf = max(p.nextIf, i)
	}
	p.anyPort.Store(true) // data sources may name the saved ports
	defer p.anyPort.Store(false)
	for _, t := range p.tablesInOrder() {
		for _, sr := range s.Tables[t.spec.name] {
			if sr.Index < 1 || sr.Index > 65535 || t.rows[sr.Index] != nil {
				continue
			}
			if !t.spec.acceptable(sr.Vals) {
				continue // not a row this agent would have made
			}
			r := &ctlRow{index: sr.Index, status: statusUnderCreation, vals: sr.Vals}
			if r.vals == nil {
				r.vals = map[uint32]mib.Value{}
			}
			t.rows[sr.Index] = r
			if sr.Status == statusValid {
				p.restored = append(p.restored, restoredRow{t, r})
			}
		}
		t.reindex()
	}
}

type restoredRow struct {
	t *ctlTable
	r *ctlRow
}

// activateRestored makes the restored rows that were active active again,
// in table order, once the ports are set; a row that no longer checks
// out (its port was never seen again, say) stays notInService. The rows
// of ports not present now resolve to them, and count again when they come.
func (p *probe) activateRestored() {
	p.anyPort.Store(true)
	defer p.anyPort.Store(false)
	for _, x := range p.restored {
		if v := x.t.spec.validate; v != nil && v(x.r) != mib.NoError {
			continue
		}
		if x.t.spec.ready != nil && !x.t.spec.ready(x.r) {
			continue
		}
		p.mu.Lock()
		x.r.status = statusValid
		if x.t.spec.activate != nil {
			x.t.spec.activate(x.r)
		}
		x.t.reindex()
		p.mu.Unlock()
	}
	p.restored = nil
}
