package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"go.uber.org/goleak"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/leakcheck"
)

func TestMain(m *testing.M) {
	if os.Getenv(releaseHelperEnv) != "" {
		os.Exit(releaseHelper())
	}
	// teatest parks a goroutine on SIGINT for each test model; it is theirs.
	os.Exit(leakcheck.Run(m, goleak.IgnoreAnyFunction("github.com/charmbracelet/x/exp/teatest/v2.NewTestModel.func2")))
}

// fixedNow is the pinned clock of the golden tests.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fixedAPI serves canned control-API answers on a unix socket, for screens
// whose content must not vary (uptimes, log times). The client under test is
// the real api.Client.
type fixedAPI struct {
	status   api.Status
	logs     map[string][]api.LogEntry
	captures []api.CaptureSession
	nextCap  int
	ports    api.Ports
	down     atomic.Bool // answer 503 to /v1/status
	// downAfterOne: go down after one good /v1/status, so the screens
	// behind a banner show exactly one poll however slow the machine.
	downAfterOne atomic.Bool
	restarts     atomic.Int32
	mu           sync.Mutex
	restartd     []string
}

func newFixedAPI() *fixedAPI {
	started := time.Date(2026, 3, 14, 14, 7, 0, 0, time.UTC)
	at := func(sec int) time.Time { return started.Add(time.Duration(sec) * time.Second) }
	failedAt := at(60)
	return &fixedAPI{
		status: api.Status{
			Name: "bench-7", Version: "v1.4.2", StartedAt: started, UptimeSeconds: 3746.2,
			Services: []api.ServiceStatus{
				{Name: "api", State: api.StateRunning, UptimeSeconds: 3746, Health: "ok"},
				{Name: "api-remote", State: api.StateRunning, Restarts: 1, UptimeSeconds: 1203, Health: "ok"},
				{Name: "sampler", State: api.StateDegraded, Restarts: 2, UptimeSeconds: 95, Health: "probe: queue stalled for 5s",
					LastError: "queue stalled for 5s\nsecond line", LastErrorAt: &failedAt},
				{Name: "exporter", State: api.StateFailed, Restarts: 5, LastError: "listen tcp 127.0.0.1:9100: bind: address already in use", LastErrorAt: &failedAt},
				{Name: "reporter", State: api.StateBackoff, Restarts: 1},
				{Name: "core", State: api.StateRunning, UptimeSeconds: 3745, Health: "ok"},
				{Name: "capture", State: api.StateRunning, UptimeSeconds: 3740, Health: "ok", Deps: []string{"core"}},
			},
		},
		nextCap: 3,
		ports:   samplePorts(0),
		captures: []api.CaptureSession{
			{ID: "c1", Config: api.CaptureStart{Ports: []string{"wb0"}, Filter: "tcp port 443", OutDir: "/data/captures"}, Started: at(100), Running: true,
				CaptureCounters: api.CaptureCounters{Packets: 123456, Bytes: 98765432, DroppedQueue: 12, Files: 3, FilesKept: 3, CurrentFile: "/data/captures/c1-00003.pcapng"}},
			{ID: "c2", Config: api.CaptureStart{Ports: []string{"wb0", "wb1"}, Match: "GET /admin", OutDir: "/data/captures"}, Started: at(200),
				CaptureCounters: api.CaptureCounters{Packets: 4711, Bytes: 1234567, Files: 1, FilesKept: 1, CurrentFile: "/data/captures/c2-00001.pcapng"},
				Error:           "write /data/captures/c2-00001.pcapng: no space left on device"},
		},
		logs: map[string][]api.LogEntry{
			"api": {
				{Seq: 0, Time: at(0), Level: "INFO", Msg: "control API listening", Attrs: map[string]string{"addr": "/run/wirebox.sock", "tls": "false"}},
				{Seq: 1, Time: at(0), Level: "INFO", Msg: "service running"},
				{Seq: 2, Time: at(61), Level: "WARN", Msg: "slow request", Attrs: map[string]string{"path": "/v1/status", "took": "1.2s"}},
				{Seq: 3, Time: at(75), Level: "ERROR", Msg: "request failed", Attrs: map[string]string{"path": "/v1/services/sampler/logs", "err": "write unix /run/wirebox.sock->@: write: broken pipe; the client went away before the answer was complete"}},
				{Seq: 4, Time: at(76), Level: "INFO", Msg: "client went away"},
			},
		},
	}
}

func (f *fixedAPI) handler() http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc(api.RouteStatus, func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "daemon is shutting down"})
			return
		}
		writeJSON(w, http.StatusOK, f.status)
		if f.downAfterOne.Load() {
			f.down.Store(true)
		}
	})
	mux.HandleFunc(api.RouteServiceLogs, func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
		out := api.Logs{Service: name, Entries: []api.LogEntry{}}
		for _, e := range f.logs[name] {
			if e.Seq >= since {
				out.Entries = append(out.Entries, e)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc(api.RoutePorts, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, f.ports)
	})
	mux.HandleFunc(api.RouteCaptureList, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, append([]api.CaptureSession{}, f.captures...))
	})
	// Start checks what the real service checks first, with its messages.
	mux.HandleFunc(api.RouteCaptureStart, func(w http.ResponseWriter, r *http.Request) {
		var req api.CaptureStart
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error()})
			return
		}
		bad := func(msg string) { writeJSON(w, http.StatusBadRequest, api.Error{Error: msg}) }
		switch {
		case len(req.Ports) == 0:
			bad("no port given")
		case req.OutDir == "":
			bad("no output directory (--out)")
		case req.Filter == "tcp port 80 and":
			bad(`filter: column 16: expected an expression after "and"`)
		default:
			f.mu.Lock()
			st := api.CaptureSession{ID: fmt.Sprintf("c%d", f.nextCap), Config: req, Started: fixedNow, Running: true}
			f.nextCap++
			f.captures = append(f.captures, st)
			f.mu.Unlock()
			writeJSON(w, http.StatusCreated, st)
		}
	})
	mux.HandleFunc(api.RouteCaptureStop, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, c := range f.captures {
			if c.ID == r.PathValue("id") {
				f.captures = append(f.captures[:i:i], f.captures[i+1:]...)
				c.Running = false
				writeJSON(w, http.StatusOK, c)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, api.Error{Error: "capture session not found"})
	})
	mux.HandleFunc(api.RouteServiceRestart, func(w http.ResponseWriter, r *http.Request) {
		f.restarts.Add(1)
		f.mu.Lock()
		f.restartd = append(f.restartd, r.PathValue("name"))
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	return mux
}

// serve runs the fixed API until the test ends and returns a client for it.
func (f *fixedAPI) serve(t *testing.T) *api.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	cl := api.NewUnixClient(sock)
	t.Cleanup(func() {
		cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("fixed API: %v", err)
		}
	})
	return cl
}

// console starts the console model in a teatest program of the given size
// with the colour profile pinned.
func console(t *testing.T, cl *api.Client, w, h int, mono bool, interval time.Duration) *testConsole {
	t.Helper()
	theme, profile := ColorTheme(), colorprofile.ANSI
	if mono {
		theme, profile = MonoTheme(), colorprofile.Ascii
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // runs after the program is done (cleanups run last-in first-out)
	m := New(Options{Context: ctx, Client: cl, Theme: &theme, Now: func() time.Time { return fixedNow }, Loc: time.UTC, Interval: interval, Where: "/run/wirebox.sock", Panels: WithPanels(subsystemPanels...)})
	rec := &recorder{Model: m}
	tm := teatest.NewTestModel(t, rec, teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(profile)))
	t.Cleanup(func() { _ = tm.Quit(); tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second)) })
	return &testConsole{TestModel: tm, rec: rec, mono: mono}
}

// recorder keeps the last frame the program drew, as plain text, so tests
// wait for what is on screen rather than for the renderer's byte stream
// (which sends only the cells that changed).
type recorder struct {
	*Model
	mu    sync.Mutex
	frame string
}

func (r *recorder) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := r.Model.Update(msg)
	return r, cmd
}

func (r *recorder) View() tea.View {
	v := r.Model.View()
	r.mu.Lock()
	r.frame = ansi.Strip(v.Content)
	r.mu.Unlock()
	return v
}

func (r *recorder) screen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frame
}

type testConsole struct {
	*teatest.TestModel
	rec  *recorder
	mono bool
}

// waitScreen waits until the frame on screen shows want.
func waitScreen(t *testing.T, tc *testConsole, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(tc.rec.screen(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the console never showed %q; last frame:\n%s", want, tc.rec.screen())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitScreenRE waits until the frame on screen matches the expression.
func waitScreenRE(t *testing.T, tc *testConsole, expr string) {
	t.Helper()
	re := regexp.MustCompile(expr)
	deadline := time.Now().Add(15 * time.Second)
	for !re.MatchString(tc.rec.screen()) {
		if time.Now().After(deadline) {
			t.Fatalf("the console never showed /%s/; last frame:\n%s", expr, tc.rec.screen())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keys types a sequence of key names ("tab", "enter", "esc", "r", ...).
func keys(tm *testConsole, names ...string) {
	for _, n := range names {
		tm.Send(keyMsg(n))
	}
}

func keyMsg(n string) tea.KeyPressMsg {
	switch n {
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	}
	r := []rune(n)
	if n == " " {
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	}
	return tea.KeyPressMsg{Code: r[0], Text: n}
}

// openCaptures switches to the Capture screen (4) and waits until it
// shows want.
func openCaptures(t *testing.T, tm *testConsole, want string) {
	t.Helper()
	keys(tm, "4")
	waitScreen(t, tm, want)
}

// fillCaptureForm opens the new-capture form (n), types the port, the
// filter and the output directory into their fields and submits it.
func fillCaptureForm(tm *testConsole, port, filter, dir string) {
	keys(tm, "n")
	typeText(tm, port)
	keys(tm, "tab")
	typeText(tm, filter)
	keys(tm, "tab", "tab")
	typeText(tm, dir)
	keys(tm, "enter")
}

// typeText types text one key at a time.
func typeText(tm *testConsole, text string) {
	for _, r := range text {
		tm.Send(keyMsg(string(r)))
	}
}

// finalScreen quits the program and returns its last frame as the pinned
// profile writes it.
func finalScreen(t *testing.T, tc *testConsole) []byte {
	t.Helper()
	fm := finalModel(t, tc)
	mono := tc.mono
	var b bytes.Buffer
	w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.ANSI}
	if mono {
		w.Profile = colorprofile.Ascii
	}
	if _, err := w.WriteString(fm.View().Content); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func requireGolden(t *testing.T, screen []byte) {
	t.Helper()
	golden.RequireEqual(t, screen)
}

// finalModel quits the program and returns the console model.
func finalModel(t *testing.T, tc *testConsole) *Model {
	t.Helper()
	if err := tc.Quit(); err != nil {
		t.Fatal(err)
	}
	return tc.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*recorder).Model
}

func readCmdline(t *testing.T) string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		t.Logf("no /proc/cmdline: %v", err)
	}
	return string(b)
}

// samplePorts is the fixed core's ports after n seconds of a traffic
// pattern: wb0 receives 1000+100*(n%7) packets of 500 bytes a second.
func samplePorts(n int) api.Ports {
	var rx uint64 = 5_000_000
	for i := range n {
		rx += uint64(1000 + 100*(i%7))
	}
	return api.Ports{
		Pool: api.PoolStatus{Frames: 16384, FrameSize: 2048, Free: 15872},
		Ports: []api.PortStatus{
			{Name: "wb0", Mode: "passive", RxPackets: rx, RxBytes: rx * 500, TxPackets: 10, TxBytes: 640, RxDroppedKernel: 3, RxDroppedPool: 1,
				TimestampSource: "kernel", Link: "up", Subscribers: []api.SubscriberStatus{
					{Name: "capture c1", Kind: "read-only", Delivered: rx - 4, Dropped: 12},
					{Name: "rmon", Kind: "read-only", Delivered: rx - 4},
				}},
			{Name: "wb1", Mode: "bypass", TimestampSource: "none", Link: "down", Error: "link down since 14:07:02"},
		},
	}
}

// feedPorts sends n samples of samplePorts, one a second after the pinned
// clock, as the Ports panel's poll would deliver them.
func feedPorts(tc *testConsole, n int) {
	for i := 1; i <= n; i++ {
		ps := samplePorts(i)
		tc.Send(portsMsg{ports: &ps, at: fixedNow.Add(time.Duration(i) * time.Second)})
	}
}
