// Package capturesvc is the supervised "capture" service: capture sessions
// and replay on the capture core, driven through the control API
// (POST/GET /v1/captures, POST /v1/captures/{id}/stop, POST /v1/replay).
package capturesvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/filter"
	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/capture/replay"
	"github.com/wirebox/wirebox/capture/session"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/services"
)

// Name is the service name.
const Name = "capture"

// CoreSource gives the running capture core (the "core" service).
type CoreSource interface {
	Core() *capture.Core
}

// Service runs capture sessions and replays.
type Service struct {
	src     CoreSource
	root    string
	limits  Config
	replays chan struct{} // one token per running replay (MaxReplays)

	mu   sync.Mutex
	mgr  *session.Manager
	core *capture.Core
}

// New returns the service configured by cfg: cfg.Root, if not empty,
// confines capture output directories and replay input files to that
// directory; MaxSessions and MaxReplays (0: the defaults) bound what
// clients can start.
func New(src CoreSource, cfg Config) *Service {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxReplays <= 0 {
		cfg.MaxReplays = DefaultMaxReplays
	}
	return &Service{src: src, root: cfg.Root, limits: cfg, replays: make(chan struct{}, cfg.MaxReplays)}
}

// Name implements services.Service.
func (s *Service) Name() string { return Name }

// Deps: the core must run first.
func (s *Service) Deps() []string { return []string{"core"} }

// Run serves until ctx ends, then stops every session so each file is
// closed complete.
func (s *Service) Run(ctx context.Context, rt *services.Runtime) error {
	core := s.src.Core()
	if core == nil {
		return errors.New("capture core not running")
	}
	s.repair(rt.Log)
	mgr := session.NewManager(core, rt.Log, s.root, s.limits.MaxSessions)
	s.mu.Lock()
	s.mgr, s.core = mgr, core
	s.mu.Unlock()
	rt.Ready()
	<-ctx.Done()
	s.mu.Lock()
	s.mgr, s.core = nil, nil
	s.mu.Unlock()
	for _, st := range mgr.StopAll() {
		rt.Log.Info("capture stopped at shutdown", "id", st.ID, "packets", st.Packets, "files", st.Files)
	}
	return nil
}

// repair cuts back the capture files below the root that a daemon killed
// mid-write left marked (pcapng.RepairDir); live writers' files are left
// alone, so a restart of the service alone is safe too.
func (s *Service) repair(log *slog.Logger) {
	if s.root == "" {
		return
	}
	if _, err := os.Stat(s.root); errors.Is(err, os.ErrNotExist) {
		return // no capture has been written yet
	}
	rs, err := pcapng.RepairDir(s.root)
	for _, r := range rs {
		log.Warn("capture file repaired: its writer died while writing it", "file", r.Path,
			"size", r.Size, "kept", r.Kept, "salvaged", r.Salvaged, "removed", r.Removed)
	}
	if err != nil {
		log.Error("repairing capture files", "root", s.root, "err", err)
	}
}

// running returns the session manager and the core, or answers 503 and
// returns ok false while the service is not running.
func (s *Service) running(w http.ResponseWriter) (mgr *session.Manager, core *capture.Core, ok bool) {
	s.mu.Lock()
	mgr, core = s.mgr, s.core
	s.mu.Unlock()
	if mgr == nil || core == nil {
		api.WriteError(w, http.StatusServiceUnavailable, errNotRunning)
		return nil, nil, false
	}
	return mgr, core, true
}

// Routes implements the daemon's RouteProvider.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc(api.RouteCaptureStart, s.start)
	mux.HandleFunc(api.RouteCaptureList, s.list)
	mux.HandleFunc(api.RouteCapture, s.get)
	mux.HandleFunc(api.RouteCaptureStop, s.stop)
	mux.HandleFunc(api.RouteReplay, s.replay)
}

var errNotRunning = errors.New("the capture service is not running")

// maxBody bounds request bodies.
const maxBody = 1 << 20

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxBody), v); err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

// decodeBody decodes one JSON request body strictly: unknown fields and
// anything after the value are errors.
func decodeBody(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %w", err)
	}
	if dec.More() {
		return errors.New("bad request body: more than one JSON value")
	}
	return nil
}

// sessionConfig turns a POST /v1/captures body into a session's
// configuration.
func sessionConfig(req api.CaptureStart) (session.Config, error) {
	var rt time.Duration
	if req.RotateTime != "" {
		d, err := time.ParseDuration(req.RotateTime)
		if err != nil {
			return session.Config{}, fmt.Errorf("rotate_time: %w", err)
		}
		if d < 0 {
			return session.Config{}, fmt.Errorf("rotate_time %v is negative", d)
		}
		rt = d
	}
	return session.Config{
		Ports: req.Ports, Filter: req.Filter, Match: req.Match, Direction: req.Direction, SnapLen: req.SnapLen,
		RotateSize: req.RotateSize, RotateTime: rt, Keep: req.Keep, Compress: req.Compress, OutDir: req.OutDir, Queue: req.Queue,
	}, nil
}

func toAPI(st session.Status) api.CaptureSession {
	c := st.Config
	rt := ""
	if c.RotateTime > 0 {
		rt = c.RotateTime.String()
	}
	return api.CaptureSession{
		ID: st.ID, Started: st.Started, Running: st.Running,
		Config: api.CaptureStart{Ports: c.Ports, Filter: c.Filter, Match: c.Match, Direction: c.Direction, SnapLen: c.SnapLen,
			RotateSize: c.RotateSize, RotateTime: rt, Keep: c.Keep, Compress: c.Compress, OutDir: c.OutDir, Queue: c.Queue},
		CaptureCounters: st.CaptureCounters, Error: st.Error,
	}
}

func (s *Service) start(w http.ResponseWriter, r *http.Request) {
	mgr, _, ok := s.running(w)
	if !ok {
		return
	}
	var req api.CaptureStart
	if !decode(w, r, &req) {
		return
	}
	cfg, err := sessionConfig(req)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if req.OutFD {
		if cfg.OutRoot, cfg.Owner, err = passedDir(r, req.OutDir); err != nil {
			api.WriteError(w, http.StatusBadRequest, err)
			return
		}
	}
	st, err := mgr.StartContext(r.Context(), cfg)
	if err != nil {
		api.WriteError(w, errStatus(err, http.StatusBadRequest), err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, toAPI(st))
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	mgr, _, ok := s.running(w)
	if !ok {
		return
	}
	out := []api.CaptureSession{}
	for _, st := range mgr.List() {
		out = append(out, toAPI(st))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	s.one(w, r, (*session.Manager).Get)
}

func (s *Service) stop(w http.ResponseWriter, r *http.Request) {
	s.one(w, r, (*session.Manager).Stop)
}

func (s *Service) one(w http.ResponseWriter, r *http.Request, fn func(*session.Manager, string) (session.Status, error)) {
	mgr, _, ok := s.running(w)
	if !ok {
		return
	}
	st, err := fn(mgr, r.PathValue("id"))
	if err != nil {
		api.WriteError(w, errStatus(err, http.StatusInternalServerError), err)
		return
	}
	api.WriteJSON(w, http.StatusOK, toAPI(st))
}

// errStatus is the HTTP status of a session error: its own for the
// errors that have one, otherwise def.
func errStatus(err error, def int) int {
	switch {
	case errors.Is(err, session.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, session.ErrLimit):
		return http.StatusTooManyRequests
	case errors.Is(err, filter.ErrTooComplex):
		return http.StatusRequestEntityTooLarge
	}
	return def
}

// replayFile resolves a file path from the API and returns the opener of
// the file: relative paths are inside the capture root, absolute ones must
// be, and the file is opened beneath the root (os.Root), so a symlink in
// the root that points out of it is refused, not followed.
func (s *Service) replayFile(path string) (string, func() (replay.Source, error), error) {
	path, rel, err := session.InRoot(s.root, path, "file")
	if err != nil {
		return "", nil, err
	}
	if s.root == "" {
		return path, replay.FileSource(path), nil
	}
	open := func() (replay.Source, error) {
		root, err := os.OpenRoot(s.root)
		if err != nil {
			return nil, fmt.Errorf("capture root: %w", err)
		}
		defer root.Close() // the open file outlives it
		r, err := pcapng.OpenIn(root, rel)
		if err != nil {
			return nil, fmt.Errorf("%w (replay files must be inside the capture root %s, the capture.root key)", err, s.root)
		}
		return r, nil
	}
	return path, open, nil
}

// passedDir opens the directory the client passed as a descriptor as an
// os.Root (through /proc/self/fd: the descriptor's own directory, whatever
// its path is now) and returns the client's user and group to own the
// files.
func passedDir(r *http.Request, name string) (*os.Root, *pcapng.Owner, error) {
	f, err := api.ReceivedFile(r, name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("%s is not a directory", name)
	}
	uid, gid, err := api.PeerCred(r)
	if err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return nil, nil, err
	}
	return root, &pcapng.Owner{UID: uid, GID: gid}, nil
}

// passedFile reads a file the client opened and passed as a descriptor.
// Each loop reads it from the start with its own offset (pread), so it
// must be a regular file, not a pipe.
func passedFile(f *os.File) func() (replay.Source, error) {
	return func() (replay.Source, error) {
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", f.Name())
		}
		r, err := pcapng.NewReader(io.NewSectionReader(f, 0, fi.Size()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		return r, nil
	}
}

func (s *Service) replay(w http.ResponseWriter, r *http.Request) {
	_, core, ok := s.running(w)
	if !ok {
		return
	}
	var req api.Replay
	if !decode(w, r, &req) {
		return
	}
	select {
	case s.replays <- struct{}{}:
		defer func() { <-s.replays }()
	default:
		api.WriteError(w, http.StatusTooManyRequests, fmt.Errorf("too many replays: %d running (capture.max_replays); wait for one to end", cap(s.replays)))
		return
	}
	var (
		file string
		open func() (replay.Source, error)
		err  error
	)
	if req.FD {
		f, ferr := api.ReceivedFile(r, req.File)
		if ferr != nil {
			api.WriteError(w, http.StatusBadRequest, ferr)
			return
		}
		defer f.Close()
		file, open, err = req.File, passedFile(f), nil
	} else {
		file, open, err = s.replayFile(req.File)
	}
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	req.File = file
	port := core.Port(req.Port)
	if port == nil {
		api.WriteError(w, http.StatusBadRequest, session.NoPortError(core, req.Port))
		return
	}
	inject := false
	switch req.To {
	case "", "wire":
	case "host":
		inject = true
	default:
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("to %q: want wire or host", req.To))
		return
	}
	// Fail fast on an unreadable file, before any frame goes out.
	src, err := open()
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if c, ok := src.(interface{ Close() error }); ok {
		c.Close()
	}
	speed := req.Speed
	if speed == 0 {
		speed = 1
	}
	cons := core.NewConsumer("replay " + filepath.Base(req.File))
	defer cons.Close()
	rep, err := replay.Run(r.Context(), open, cons.Sender(port, inject), replay.Options{Speed: speed, Loop: req.Loop})
	out := api.ReplayReport{Sent: rep.Sent, Bytes: rep.Bytes, Padded: rep.Padded, Late: rep.Late, WorstLateNS: int64(rep.WorstLate),
		Errors: rep.Errors, FirstError: rep.FirstError, DurationNS: int64(rep.Duration), Speed: speed}
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("replay stopped after %d frames: %w", rep.Sent, err))
		return
	}
	api.WriteJSON(w, http.StatusOK, out)
}
