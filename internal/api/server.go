package api

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LogSource is one service's log ring.
type LogSource interface {
	// Since returns the records from seq on that are still kept, how many
	// asked-for records were already dropped, and the next sequence number.
	Since(seq uint64) (entries []LogEntry, dropped, next uint64)
	// Wait blocks until a record with sequence >= seq exists or ctx ends.
	Wait(ctx context.Context, seq uint64) error
}

// Backend is what the server exposes: the supervisor, seen through the
// operations the API offers (the supervisor package depends on this one for
// its wire types, so the server names what it needs instead).
type Backend interface {
	Status() []ServiceStatus
	Restart(name string) error
	Logs(name string) (LogSource, error)
}

// ErrNotFound marks a lookup of something that does not exist; handlers
// answer 404 for it.
var ErrNotFound = errors.New("not found")

// NotFound marks err as a not-found error without changing its message.
func NotFound(err error) error { return notFound{err} }

type notFound struct{ error }

func (e notFound) Unwrap() []error { return []error{e.error, ErrNotFound} }

// ServerOptions configure a Server.
type ServerOptions struct {
	Name      string
	Version   string
	StartedAt time.Time
	Backend   Backend
	// Registry holds the metrics served on /metrics.
	Registry *prometheus.Registry
	// Config returns the effective configuration as YAML, for GET /v1/config.
	Config func() ([]byte, error)
	Logger *slog.Logger
}

// Server is the control API's HTTP handler.
type Server struct {
	opts ServerOptions
	mux  *http.ServeMux
}

// NewServer builds the handler with the core routes.
func NewServer(opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, mux: http.NewServeMux()}
	s.mux.HandleFunc(RouteStatus, s.status)
	s.mux.HandleFunc(RouteServiceLogs, s.logs)
	s.mux.HandleFunc(RouteServiceRestart, s.restart)
	s.mux.HandleFunc(RouteConfig, s.config)
	if opts.Registry != nil {
		s.mux.Handle(RouteMetrics, promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{ErrorLog: slogPromLogger{opts.Logger}}))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s
}

type slogPromLogger struct{ l *slog.Logger }

func (p slogPromLogger) Println(v ...any) { p.l.Error(fmt.Sprint(v...)) }

// Mux is where subsystems add their routes ("GET /v1/ports", ...).
func (s *Server) Mux() *http.ServeMux { return s.mux }

// Handler is the whole API, for local (already trusted) listeners.
func (s *Server) Handler() http.Handler { return s.mux }

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// HandleStatus serves GET route with what status returns, or 503 with its
// error (a service that is not running has no status to give).
func HandleStatus[T any](mux *http.ServeMux, route string, status func() (T, error)) {
	mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
		st, err := status()
		if err != nil {
			WriteError(w, http.StatusServiceUnavailable, err)
			return
		}
		WriteJSON(w, http.StatusOK, st)
	})
}

// WriteError answers with an Error body.
func WriteError(w http.ResponseWriter, code int, err error) {
	WriteJSON(w, code, Error{Error: err.Error()})
}

func (s *Server) StatusBody() Status {
	return Status{
		Name:          s.opts.Name,
		Version:       s.opts.Version,
		StartedAt:     s.opts.StartedAt,
		UptimeSeconds: time.Since(s.opts.StartedAt).Seconds(),
		Services:      s.opts.Backend.Status(),
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, s.StatusBody())
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	if s.opts.Config == nil {
		WriteError(w, http.StatusNotFound, errors.New("no configuration available"))
		return
	}
	b, err := s.opts.Config()
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(b)
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.opts.Backend.Restart(name); err != nil {
		s.opts.Logger.Warn("restart refused", "target", name, "err", err)
		WriteError(w, codeFor(err), err)
		return
	}
	s.opts.Logger.Info("restart requested through the API", "target", name)
	WriteJSON(w, http.StatusAccepted, map[string]string{"service": name, "status": "restart requested"})
}

func codeFor(err error) int {
	if errors.Is(err, ErrNotFound) {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	src, err := s.opts.Backend.Logs(name)
	if err != nil {
		WriteError(w, codeFor(err), err)
		return
	}
	since, follow, err := parseLogsQuery(r.URL.RawQuery)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	if !follow {
		entries, dropped, _ := src.Since(since)
		if entries == nil {
			entries = []LogEntry{}
		}
		WriteJSON(w, http.StatusOK, Logs{Service: name, Entries: entries, Dropped: dropped})
		return
	}
	// Follow: NDJSON, one LogEntry per line, until the client leaves.
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	next := since
	for {
		entries, _, n := src.Since(next)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return
			}
		}
		if len(entries) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
		}
		next = n
		if err := src.Wait(r.Context(), next); err != nil {
			return
		}
	}
}

// parseLogsQuery reads the query of GET /v1/services/{name}/logs:
// since=SEQ and follow=1|true (0, false or absent: no).
func parseLogsQuery(raw string) (since uint64, follow bool, err error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return 0, false, fmt.Errorf("query: %w", err)
	}
	if v := q.Get("since"); v != "" {
		if since, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, false, fmt.Errorf("since: want a sequence number, not %q", v)
		}
	}
	switch v := q.Get("follow"); v {
	case "", "0", "false":
	case "1", "true":
		follow = true
	default:
		return 0, false, fmt.Errorf("follow: want 1 or 0, not %q", v)
	}
	return since, follow, nil
}

// ListenUnix opens the unix socket, replacing a stale one but never one a live
// daemon is serving, and sets its mode and, if gid >= 0, its group (so
// the group's members may use the API without being root).
func ListenUnix(path string, mode fs.FileMode, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another daemon is already serving this socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	// Bind inside a private directory, set the mode, then move the socket
	// into place, so there is no moment when it is wider than asked. (Umask
	// would do it too, but it is process-wide and other services create files.)
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".wirebox-sock-")
	if err != nil {
		return nil, fmt.Errorf("creating socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	if gid >= 0 {
		if err := os.Chown(tmpSock, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("setting group of %s (api.socket_group): %w", path, err)
		}
	}
	if err := os.Chmod(tmpSock, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("setting mode of %s: %w", path, err)
	}
	if err := os.Rename(tmpSock, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("moving socket into place: %w", err)
	}
	return &unixListener{UnixListener: l, path: path, addr: &net.UnixAddr{Name: path, Net: "unix"}}, nil
}

// unixListener removes its socket file when closed.
type unixListener struct {
	*net.UnixListener
	path string
	addr net.Addr
}

func (l *unixListener) Addr() net.Addr { return l.addr }

// Accept returns connections that keep descriptors passed with their
// bytes (ReceivedFile).
func (l *unixListener) Accept() (net.Conn, error) {
	c, err := l.UnixListener.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return newFDConn(c), nil
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// RemoteOptions configure the TCP listener.
type RemoteOptions struct {
	Addr      string
	CertFile  string
	KeyFile   string
	TokenFile string
}

// ErrRemoteNeedsAuth is returned when a TCP listener is asked for without
// both TLS and a token.
var ErrRemoteNeedsAuth = errors.New("the remote API requires TLS (certificate and key) and a bearer token")

// MinTokenLength is the shortest bearer token the remote API accepts.
const MinTokenLength = 16

// ListenRemote opens the TLS listener and returns it with a handler that
// requires the bearer token.
func ListenRemote(o RemoteOptions, h http.Handler) (net.Listener, http.Handler, error) {
	if o.CertFile == "" || o.KeyFile == "" || o.TokenFile == "" {
		return nil, nil, ErrRemoteNeedsAuth
	}
	tok, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading API token: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	if len(token) < MinTokenLength {
		return nil, nil, fmt.Errorf("API token in %s is %d characters; at least %d are required", o.TokenFile, len(token), MinTokenLength)
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s: %w", o.Addr, err)
	}
	tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	return tl, RequireToken(token, h), nil
}

// RequireToken wraps h so that every request must carry "Authorization: Bearer TOKEN".
func RequireToken(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wirebox"`)
			// A client that failed once gets no kept-alive connection to
			// try again on: each attempt costs it a new TLS handshake, and
			// the daemon holds no descriptor for it.
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeOptions bound what one client can hold of a listener. Zero fields
// take the defaults below.
type ServeOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers (a client that
	// connects and sends nothing is closed after it).
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading a request's body. It is not a deadline on
	// the whole request: once the body is read the handler may run and
	// stream as long as it needs (followed logs, a replay).
	BodyTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration
	// MaxConns caps concurrent connections; MaxConnsPerSource caps them per
	// source IP address (TCP listeners only: unix socket peers have no
	// address; negative: no per-source cap). A connection over a cap is
	// closed at once.
	MaxConns          int
	MaxConnsPerSource int
}

// Defaults of ServeOptions.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxConns          = 256
	DefaultMaxConnsPerSource = 32
)

// Serve serves h on l until ctx is done, then shuts down gracefully, with
// the default ServeOptions.
func Serve(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	return ServeWith(ctx, l, h, log, ServeOptions{})
}

// ServeWith serves h on l with the limits o until ctx is done, then shuts
// down gracefully.
func ServeWith(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger, o ServeOptions) error {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConnsPerSource == 0 {
		o.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	l = newLimitListener(l, o.MaxConns, o.MaxConnsPerSource, log)
	srv := &http.Server{
		Handler:           bodyTimeout(h, o.BodyTimeout),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       connContext,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Followed log streams end with the request context (BaseContext is ctx).
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// bodyTimeout puts a read deadline on the request body only. (The
// server's ReadTimeout would also end long handlers: its deadline stays on
// the connection, and the server's background read that watches for the
// client leaving fails on it and cancels the request's context.)
func bodyTimeout(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body == nil || r.Body == http.NoBody {
			_ = rc.SetReadDeadline(time.Time{})
		} else {
			_ = rc.SetReadDeadline(time.Now().Add(d))
			r.Body = &clearOnEOF{ReadCloser: r.Body, rc: rc}
		}
		h.ServeHTTP(w, r)
	})
}

type clearOnEOF struct {
	io.ReadCloser
	rc *http.ResponseController
}

func (b *clearOnEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// limitListener closes connections over the caps as soon as they are
// accepted, so a flood of connections costs the daemon a bounded number of
// descriptors and never blocks the accept loop.
type limitListener struct {
	net.Listener
	max, perSource int
	log            *slog.Logger

	mu     sync.Mutex
	open   int
	bySrc  map[string]int
	warned time.Time
}

func newLimitListener(l net.Listener, max, perSource int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: l, max: max, perSource: perSource, log: log, bySrc: map[string]int{}}
}

func sourceOf(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c)
		l.mu.Lock()
		over := l.open >= l.max || (src != "" && l.perSource > 0 && l.bySrc[src] >= l.perSource)
		if !over {
			l.open++
			if src != "" {
				l.bySrc[src]++
			}
		}
		warn := over && time.Since(l.warned) > 10*time.Second
		if warn {
			l.warned = time.Now()
		}
		l.mu.Unlock()
		if over {
			if warn {
				l.log.Warn("API connection refused: too many connections", "source", c.RemoteAddr().String(), "max", l.max, "per_source", l.perSource)
			}
			c.Close()
			continue
		}
		return &limitConn{Conn: c, l: l, src: src}, nil
	}
}

func (l *limitListener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if src != "" {
		if l.bySrc[src]--; l.bySrc[src] <= 0 {
			delete(l.bySrc, src)
		}
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	src  string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}
