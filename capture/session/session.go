package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/filter"
	"github.com/wirebox/wirebox/capture/match"
	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/tick"
)

// Config describes a session (the flags of `wirebox capture start`).
type Config struct {
	Ports      []string      `json:"ports"`
	Filter     string        `json:"filter,omitempty"`
	Match      string        `json:"match,omitempty"`
	Direction  string        `json:"direction,omitempty"` // rx, tx or both (default)
	SnapLen    int           `json:"snaplen,omitempty"`   // 0: whole frames
	RotateSize int64         `json:"rotate_size,omitempty"`
	RotateTime time.Duration `json:"rotate_time,omitempty"`
	Keep       int           `json:"keep,omitempty"`
	Compress   string        `json:"compress,omitempty"` // zstd, gzip, none
	OutDir     string        `json:"out_dir"`
	Prefix     string        `json:"prefix,omitempty"` // default: the session id
	// Queue is the subscriber queue length: how many frames may wait for
	// the disk before the core drops. Default 16384.
	Queue int `json:"queue,omitempty"`
	// OutRoot, if set, is the output directory, already opened (a
	// directory a user passed as a descriptor): OutDir only names it and
	// the capture root does not apply. The session closes it. Owner then
	// owns the files.
	OutRoot *os.Root      `json:"-"`
	Owner   *pcapng.Owner `json:"-"`
}

// Status is a session's state and counters.
type Status struct {
	ID      string    `json:"id"`
	Config  Config    `json:"config"`
	Started time.Time `json:"started"`
	Running bool      `json:"running"`
	// The counters and files, as the API shows them.
	api.CaptureCounters
	Error string `json:"error,omitempty"`
}

// Manager runs the sessions on one core. Its methods are safe for
// concurrent use.
type Manager struct {
	core *capture.Core
	log  *slog.Logger
	root string // if set, every OutDir must be inside it
	max  int    // most sessions at once

	mu       sync.Mutex
	seq      int
	starting int // sessions being set up, counted against max
	sessions map[string]*Session
}

// DefaultMaxSessions is how many sessions may run at once unless
// configured otherwise (capture.max_sessions).
const DefaultMaxSessions = 64

// MaxQueue bounds a session's per-port queue (Config.Queue): the queue is
// allocated up front, so a client must not be able to ask for gigabytes.
const MaxQueue = 1 << 20

// ErrLimit is returned by Start when the most sessions allowed already run.
var ErrLimit = errors.New("too many capture sessions")

// NewManager returns a manager. root, if not empty, confines output
// directories (relative ones are taken inside it); at most max sessions
// run at once (0: DefaultMaxSessions).
func NewManager(core *capture.Core, log *slog.Logger, root string, max int) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &Manager{core: core, log: log, root: root, max: max, sessions: map[string]*Session{}}
}

// reserve takes one of the max session slots; release gives it back if
// the session did not start.
func (m *Manager) reserve() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sessions)+m.starting >= m.max {
		return fmt.Errorf("%w: %d of %d running (capture.max_sessions); stop one first", ErrLimit, len(m.sessions)+m.starting, m.max)
	}
	m.starting++
	return nil
}

// Session is one running capture.
type Session struct {
	id      string
	cfg     Config
	started time.Time
	log     *slog.Logger

	cons        *capture.Consumer // holds every frame the session has not written yet
	subs        []*capture.Subscription
	ports       []*capture.Port
	kernelStart []uint64
	missedStart []uint64
	cancel      context.CancelFunc
	done        sync.WaitGroup

	mu           sync.Mutex // guards everything below: the writer side
	w            *pcapng.Writer
	matcher      *match.Matcher
	snap         int
	ts           []pcapng.TimestampSource // per port, as in the writer's IDBs
	pkts         []pcapng.Packet          // write's scratch
	droppedWrite uint64
	unmatched    uint64
	err          error
	stopped      bool
	final        Status
}

// ErrNotFound is returned for an unknown session id.
var ErrNotFound = errors.New("capture session not found")

func parseDirection(s string) (capture.Direction, error) {
	switch s {
	case "", "both":
		return capture.Both, nil
	case "rx", "in":
		return capture.RX, nil
	case "tx", "out":
		return capture.TX, nil
	}
	return 0, fmt.Errorf("direction %q: want rx, tx or both", s)
}

// outDir resolves an output directory. Under a root it also returns the
// directory opened beneath the root (os.Root: a symlink or ".." that leads
// out is refused by the kernel walk, not by the path's text), created if
// missing; the caller hands it to the writer.
func (m *Manager) outDir(dir string) (string, *os.Root, error) {
	if dir == "" {
		return "", nil, errors.New("no output directory (--out)")
	}
	dir, rel, err := InRoot(m.root, dir, "output directory")
	if err != nil || m.root == "" {
		return dir, nil, err
	}
	if err := os.MkdirAll(m.root, pcapng.DirMode); err != nil {
		return "", nil, fmt.Errorf("capture root: %w", err)
	}
	root, err := os.OpenRoot(m.root)
	if err != nil {
		return "", nil, fmt.Errorf("capture root: %w", err)
	}
	defer root.Close()
	if err := root.MkdirAll(rel, pcapng.DirMode); err != nil {
		return "", nil, fmt.Errorf("output directory %q: %w (it must stay inside the capture root %s, the capture.root key)", dir, err, m.root)
	}
	sub, err := root.OpenRoot(rel)
	if err != nil {
		return "", nil, fmt.Errorf("output directory %q: %w (it must stay inside the capture root %s, the capture.root key)", dir, err, m.root)
	}
	return dir, sub, nil
}

// Start validates the configuration, subscribes to the ports and starts
// writing. Bad filters and expressions fail here, naming the position.
func (m *Manager) Start(cfg Config) (Status, error) {
	return m.StartContext(context.Background(), cfg)
}

// StartContext is Start for a request: when ctx ends (the client went
// away) the filter's compilation stops and no session starts.
func (m *Manager) StartContext(ctx context.Context, cfg Config) (Status, error) {
	// A given output directory is closed here unless the writer takes it
	// (the writer closes it then, even when it fails).
	given := cfg.OutRoot
	cfg.OutRoot = nil
	defer func() {
		if given != nil {
			given.Close()
		}
	}()
	if len(cfg.Ports) == 0 {
		return Status{}, errors.New("no port given")
	}
	dir, err := parseDirection(cfg.Direction)
	if err != nil {
		return Status{}, err
	}
	if cfg.SnapLen < 0 || cfg.Keep < 0 || cfg.RotateSize < 0 || cfg.RotateTime < 0 || cfg.Queue < 0 {
		return Status{}, errors.New("negative snaplen, keep, rotation or queue")
	}
	if cfg.Queue > MaxQueue {
		return Status{}, fmt.Errorf("queue %d: at most %d frames", cfg.Queue, MaxQueue)
	}
	if err := m.reserve(); err != nil {
		return Status{}, err
	}
	started := false
	defer func() {
		if !started {
			m.mu.Lock()
			m.starting--
			m.mu.Unlock()
		}
	}()
	comp, err := pcapng.ParseCompression(cfg.Compress)
	if err != nil {
		return Status{}, err
	}
	var prog *filter.Program
	if cfg.Filter != "" {
		if prog, err = filter.CompileContext(ctx, cfg.Filter, 0); err != nil {
			return Status{}, err
		}
	}
	var matcher *match.Matcher
	if cfg.Match != "" {
		if matcher, err = match.New(cfg.Match, match.Options{}); err != nil {
			return Status{}, err
		}
	}
	queue := cfg.Queue
	if queue == 0 {
		queue = 16384
	}

	m.mu.Lock()
	m.seq++
	id := fmt.Sprintf("c%d", m.seq)
	m.mu.Unlock()
	if cfg.Prefix == "" {
		cfg.Prefix = id
	}

	s := &Session{id: id, cfg: cfg, started: time.Now(), log: m.log.With("session", id), matcher: matcher, snap: cfg.SnapLen}
	var intfs []pcapng.Interface
	seen := map[string]bool{}
	for _, name := range cfg.Ports {
		if seen[name] {
			return Status{}, fmt.Errorf("port %s given twice", name)
		}
		seen[name] = true
		p := m.core.Port(name)
		if p == nil {
			return Status{}, NoPortError(m.core, name)
		}
		st := p.Stats()
		s.ports = append(s.ports, p)
		s.kernelStart = append(s.kernelStart, st.RxDroppedKernel)
		s.missedStart = append(s.missedStart, st.Missed)
		intfs = append(intfs, pcapng.Interface{
			Name: name, Description: "wirebox " + string(p.Mode()) + " port",
			SnapLen: uint32(cfg.SnapLen), Filter: cfg.Filter, TSSource: tsSource(st.TimestampSource),
		})
	}
	out, dirRoot := cfg.OutDir, given
	given = nil // the writer's now
	if dirRoot == nil {
		if out, dirRoot, err = m.outDir(cfg.OutDir); err != nil {
			return Status{}, err
		}
	}
	w, err := pcapng.NewWriter(pcapng.Options{
		Dir: out, DirRoot: dirRoot, Owner: cfg.Owner, Prefix: cfg.Prefix, Interfaces: intfs, Compress: comp,
		RotateSize: cfg.RotateSize, RotateTime: cfg.RotateTime, Keep: cfg.Keep,
	})
	if err != nil {
		return Status{}, err
	}
	s.w = w
	for _, in := range intfs {
		s.ts = append(s.ts, in.TSSource)
	}
	s.cons = m.core.NewConsumer("capture " + id)
	for i, p := range s.ports {
		o := capture.SubscribeOptions{Name: "capture " + id, Kind: capture.ReadOnly, Direction: dir, Queue: queue}
		if prog != nil {
			o.Match = prog.Match // our interpreter: complete (neg) and allocation-free
		}
		sub, err := s.cons.Subscribe(p, o)
		if err != nil {
			s.cons.Close()
			w.Close()
			return Status{}, fmt.Errorf("subscribe to %s: %w", cfg.Ports[i], err)
		}
		s.subs = append(s.subs, sub)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for i, sub := range s.subs {
		s.done.Add(1)
		go s.pump(ctx, i, sub)
	}
	s.done.Add(1)
	go s.ticker(ctx)

	m.mu.Lock()
	m.sessions[id] = s
	m.starting--
	started = true
	m.mu.Unlock()
	s.log.Info("capture started", "ports", cfg.Ports, "filter", cfg.Filter, "match", cfg.Match, "dir", out)
	return s.Status(), nil
}

// NoPortError says that name is not a port, and which ports there are.
func NoPortError(core *capture.Core, name string) error {
	var names []string
	for _, p := range core.Ports() {
		names = append(names, p.Name())
	}
	if len(names) == 0 {
		return fmt.Errorf("no port %q: this appliance has no ports configured", name)
	}
	return fmt.Errorf("no port %q on this appliance; its ports: %s", name, strings.Join(names, ", "))
}

func tsSource(s capture.TimestampSource) pcapng.TimestampSource {
	switch s {
	case capture.TSHardware:
		return pcapng.TSHardware
	case capture.TSKernel:
		return pcapng.TSKernel
	case capture.TSXDP:
		return pcapng.TSXDP
	case capture.TSEngine:
		return pcapng.TSSoftware
	case capture.TSTransmit:
		return pcapng.TSTransmit
	}
	return pcapng.TSUnknown
}

// writerThreads is a fixed pool of OS threads for writers: a writer on a
// thread of its own lost fewer frames under load in bench/capture (6 %
// against 14 % unlocked, noisy; docs/BENCHMARKS.md), but one per session
// let a client looping on POST /v1/captures reach the runtime's 10,000
// thread limit. The first writers get a thread each; the rest run as
// ordinary goroutines.
var writerThreads = make(chan struct{}, 8)

// batchFrames is the most frames a pump takes from its queue at once: up
// to two writev(2) calls of full-size frames (IOV_MAX is 1024 segments,
// two per frame).
const batchFrames = 1024

// pump moves frames from one port's queue to the file, on a locked thread
// from writerThreads if one is free. The engines' threads run above it
// (nice -5, see capture/engine_linux.go): under CPU pressure receiving
// wins, and a slow writer drops from its own bounded queue, counted.
func (s *Session) pump(ctx context.Context, idx int, sub *capture.Subscription) {
	defer s.done.Done()
	select {
	case writerThreads <- struct{}{}:
		// Never unlocked: the thread ends with the goroutine, and its
		// place in the pool is given back.
		runtime.LockOSThread()
		defer func() { <-writerThreads }()
	default:
	}
	buf := make([]capture.Frame, batchFrames)
	for {
		n, err := sub.Receive(ctx, buf)
		if err != nil {
			return
		}
		s.write(idx, buf[:n])
	}
}

// write writes a batch of frames from the pool's memory (the writer's
// writev takes references, not copies) and releases them once written.
func (s *Session) write(idx int, frames []capture.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pkts := s.pkts[:0]
	for _, f := range frames {
		if p, ok := s.packet(idx, f); ok {
			pkts = append(pkts, p)
		}
	}
	if len(pkts) > 0 {
		n, err := s.w.WritePackets(pkts)
		if err != nil {
			s.err = err
			s.droppedWrite += uint64(len(pkts) - n)
			s.log.Error("capture write failed; dropping from now on", "err", err)
		}
	}
	clear(pkts) // no references into the pool outlive the frames
	s.pkts = pkts[:0]
	capture.ReleaseAll(frames) // one step on the pool's free list per batch
}

// packet is the packet to write for f, false if f is not written.
func (s *Session) packet(idx int, f capture.Frame) (pcapng.Packet, bool) {
	data := f.Data()
	if s.matcher != nil && !s.matcher.Check(data, f.Timestamp()) {
		s.unmatched++
		return pcapng.Packet{}, false
	}
	if s.err != nil {
		s.droppedWrite++
		return pcapng.Packet{}, false
	}
	wire := f.WireLen()
	if s.snap > 0 && len(data) > s.snap {
		data = data[:s.snap]
	}
	src := tsSource(f.TimestampSource())
	if src != s.ts[idx] && src != pcapng.TSUnknown && s.ts[idx] == pcapng.TSUnknown {
		// Learned once frames flow: the next files say it in the IDB.
		s.ts[idx] = src
		s.w.SetTSSource(idx, src)
	}
	dir := pcapng.DirInbound
	if f.Direction() == capture.TX {
		dir = pcapng.DirOutbound
	}
	return pcapng.Packet{
		Interface: idx, Timestamp: time.Unix(0, f.Timestamp()), Data: data, Length: wire,
		Direction: dir, TSSource: src,
	}, true
}

func (s *Session) ticker(ctx context.Context) {
	defer s.done.Done()
	tick.Every(ctx, time.Second, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err == nil && !s.stopped {
			if err := s.w.Tick(); err != nil {
				s.err = err
				s.log.Error("capture flush failed", "err", err)
			}
		}
		return nil // a failed flush ends the session's writes, not its status
	})
}

// Status returns the session's counters.
func (s *Session) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return s.final
	}
	return s.statusLocked()
}

func (s *Session) statusLocked() Status {
	ws := s.w.Stats()
	st := Status{
		ID: s.id, Config: s.cfg, Started: s.started, Running: !s.stopped,
		CaptureCounters: api.CaptureCounters{Packets: ws.Packets, Bytes: ws.Bytes, DroppedWrite: s.droppedWrite, Unmatched: s.unmatched,
			CurrentFile: ws.CurrentFile, Files: ws.Files, FilesKept: len(s.w.Files())},
	}
	if s.matcher != nil {
		st.Flows = s.matcher.Flows()
	}
	for _, sub := range s.subs {
		st.DroppedQueue += sub.Stats().Dropped
	}
	for i, p := range s.ports {
		ps := p.Stats()
		if k := ps.RxDroppedKernel; k > s.kernelStart[i] {
			st.DroppedKernel += k - s.kernelStart[i]
		}
		if k := ps.Missed; k > s.missedStart[i] {
			st.Missed += k - s.missedStart[i]
		}
	}
	if s.err != nil {
		st.Error = s.err.Error()
	}
	return st
}

// stop ends the session: what is queued is written, the files are closed.
func (s *Session) stop() Status {
	s.cancel()
	s.done.Wait()
	// Write what is still queued, then leave the core.
	buf := make([]capture.Frame, batchFrames)
	for i, sub := range s.subs {
		for {
			n := sub.TryReceive(buf)
			if n == 0 {
				break
			}
			s.write(i, buf[:n])
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.statusLocked() // drop counters, before the subscriptions go
	s.cons.Close()         // the subscriptions, and anything still held
	if err := s.w.Close(); err != nil && s.err == nil {
		s.err = err
		st.Error = err.Error()
	}
	st.Running = false
	ws := s.w.Stats()
	st.Packets, st.Bytes, st.FilesKept = ws.Packets, ws.Bytes, len(s.w.Files())
	s.stopped, s.final = true, st
	s.log.Info("capture stopped", "packets", st.Packets, "dropped_queue", st.DroppedQueue, "files", st.Files)
	return st
}

// List returns every session, oldest first.
func (m *Manager) List() []Status {
	m.mu.Lock()
	ss := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		ss = append(ss, s)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Status())
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.Before(out[j].Started)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns one session's status.
func (m *Manager) Get(id string) (Status, error) {
	m.mu.Lock()
	s := m.sessions[id]
	m.mu.Unlock()
	if s == nil {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return s.Status(), nil
}

// Stop stops a session and forgets it; its final status is returned.
func (m *Manager) Stop(id string) (Status, error) {
	m.mu.Lock()
	s := m.sessions[id]
	delete(m.sessions, id)
	m.mu.Unlock()
	if s == nil {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return s.stop(), nil
}

// StopAll stops every session (orderly shutdown: every file is closed
// complete).
func (m *Manager) StopAll() []Status {
	m.mu.Lock()
	ss := m.sessions
	m.sessions = map[string]*Session{}
	m.mu.Unlock()
	var out []Status
	for _, s := range ss {
		out = append(out, s.stop())
	}
	return out
}
