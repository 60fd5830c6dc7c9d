package mirror

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/selfsigned"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/mirror/proto"
)

// attachFails runs an attach that must be refused and returns its stderr.
func (l *lab) attachFails(t *testing.T, args ...string) string {
	t.Helper()
	c := l.attach(t, args...)
	out := c.WaitExit(t)
	if c.Err() == nil {
		t.Fatalf("attach %v succeeded; want a refusal", args)
	}
	return out
}

// Every refusal names its reason, and nothing is attached.
func TestRefusals(t *testing.T) {
	otherTok := filepath.Join(t.TempDir(), "lab1-token")
	if _, err := selfsigned.EnsureToken(otherTok); err != nil {
		t.Fatal(err)
	}
	l := newLab(t, func(c *Config) {
		c.Access = []Access{{Name: "lab1-only", TokenFile: otherTok, Ports: []string{"mq0"}}}
	})
	h := l.client.Netlink(t)
	base := []string{"-server", l.addr(), "-ca", l.ca(), "-as", "mir0"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong token", []string{"-token", strings.Repeat("0", 64), "-port", "mp0"}, "authentication failed"},
		{"no token", []string{"-port", "mp0"}, "authentication failed"},
		{"not registered", []string{"-token", l.token(t), "-port", "mq0"}, "port not registered"},
		{"no such port", []string{"-token", l.token(t), "-port", "nope0"}, "no such port"},
		{"not allowed", []string{"-token", "@" + otherTok, "-port", "mp0"}, "port not allowed"},
	} {
		out := l.attachFails(t, append(base, tc.args...)...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: want %q in:\n%s", tc.name, tc.want, out)
		}
		if linkOf(t, h, "mir0") != nil {
			t.Fatalf("%s: a TAP was left behind", tc.name)
		}
	}

	// Server verification: a wrong pin or a foreign CA is refused, the
	// right pin lists the ports.
	wrongPin := []string{"-server", l.addr(), "-fingerprint", strings.Repeat("ab", 32), "-token", l.token(t), "-port", "mp0"}
	if out := l.attachFails(t, wrongPin...); !strings.Contains(out, "does not match the pinned fingerprint") {
		t.Errorf("wrong fingerprint:\n%s", out)
	}
	foreign := filepath.Join(t.TempDir(), "foreign")
	if _, err := selfsigned.Ensure(selfsigned.Files{CA: foreign + "-ca.pem", CAKey: foreign + "-ca-key.pem",
		Cert: foreign + ".pem", Key: foreign + "-key.pem"}, selfsigned.Options{CAName: "other"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	wrongCA := []string{"-server", l.addr(), "-ca", foreign + "-ca.pem", "-token", l.token(t), "-port", "mp0"}
	if out := l.attachFails(t, wrongCA...); !strings.Contains(out, "certificate signed by unknown authority") {
		t.Errorf("foreign CA:\n%s", out)
	}
	out, err := l.client.Command(testutil.Wirebox(t), "mirror", "ports", l.addr(), "--fingerprint", l.svc.Fingerprint(), "--token", l.token(t)).CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^mp0\s+true\s+up\s+10000\s+full\s+1500\s`).Match(out) ||
		!regexp.MustCompile(`(?m)^mq0\s+false\s`).Match(out) {
		t.Errorf("ports with the pinned fingerprint: %v\n%s", err, out)
	}

	// Busy: one client holds mp0; a second is refused; a monitor may join.
	first := l.attach(t, append(base, "-token", l.token(t), "-port", "mp0")...)
	first.WaitLine(t, "the first client", "connected=true")
	busy := []string{"-server", l.addr(), "-ca", l.ca(), "-as", "mir1", "-token", l.token(t), "-port", "mp0"}
	if out := l.attachFails(t, busy...); !strings.Contains(out, "port busy") {
		t.Errorf("busy:\n%s", out)
	}
	if linkOf(t, h, "mir1") != nil {
		t.Error("busy: a TAP was left behind")
	}
	mon := l.attach(t, append(busy, "-monitor")...)
	mon.WaitLine(t, "the monitor", "connected=true")
	ps := l.svc.Ports()
	for _, p := range ps {
		if p.Name == "mp0" && (p.Holder == "" || p.Monitors != 1) {
			t.Errorf("mp0 with a holder and a monitor: %+v", p)
		}
	}
}

// Unregister tells the client and takes its carrier; registering again
// brings it back. A killed client frees the port; a restarted server gets
// its clients back.
func TestUnregisterKillRestart(t *testing.T) {
	// A fixed port (the namespace is the test's own), so the restarted
	// server is where the client looks.
	l := newLab(t, func(c *Config) { c.Listen = "10.77.0.2:7412" })
	h := l.client.Netlink(t)
	args := []string{"-server", l.addr(), "-ca", l.ca(), "-token", l.token(t), "-port", "mp0", "-as", "mir0"}
	c := l.attach(t, args...)
	c.WaitLine(t, "attach", "connected=true", "link=true")
	if code := post(t, l, "/v1/mirror/ports/mp0/unregister"); code != 200 {
		t.Fatalf("unregister: %d", code)
	}
	c.WaitLine(t, "the client to be told", "connected=false", "unregistered")
	testutil.WaitFor(t, "the TAP to lose carrier", func() bool { l := linkOf(t, h, "mir0"); return l != nil && !carrier(l) })
	if code := post(t, l, "/v1/mirror/ports/mp0/register"); code != 200 {
		t.Fatalf("register: %d", code)
	}
	c.WaitLine(t, "the client to come back", "connected=true", "link=true")
	testutil.WaitFor(t, "the TAP to regain carrier", func() bool { l := linkOf(t, h, "mir0"); return l != nil && carrier(l) })
	if code := post(t, l, "/v1/mirror/ports/nope/register"); code != 404 {
		t.Errorf("register of a port the core does not have: %d, want 404", code)
	}

	// The server stops and comes back (a restarted daemon): the client
	// reconnects by itself; certificate and token are the same.
	fp, tok := l.svc.Fingerprint(), l.token(t)
	l.halt(t)
	c.WaitLine(t, "the client to see the server gone", "connected=false")
	testutil.WaitFor(t, "the TAP to lose carrier", func() bool { l := linkOf(t, h, "mir0"); return l != nil && !carrier(l) })
	l.start(t)
	c.WaitLine(t, "the client to reconnect", "connected=true")
	if l.svc.Fingerprint() != fp || l.token(t) != tok {
		t.Error("certificate or token changed across a restart")
	}

	// kill -9: the TAP goes with the process, the server frees the port.
	if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.WaitExit(t)
	testutil.WaitFor(t, "the server to free the port", func() bool {
		for _, p := range l.svc.Ports() {
			if p.Name == "mp0" {
				return p.Holder == ""
			}
		}
		return false
	})
	if linkOf(t, h, "mir0") != nil {
		t.Error("TAP left after kill -9")
	}
	again := l.attach(t, args...)
	again.WaitLine(t, "a new client on the freed port", "connected=true")

	// Detach by interface name (wirebox mirror detach): the attach ends
	// cleanly and the port is free.
	if err := l.client.Do(func() error { return Detach("mir0") }); err != nil {
		t.Fatal(err)
	}
	again.WaitExit(t)
	if again.Err() != nil {
		t.Errorf("attach after detach: %v\n%s", again.Err(), again.Stderr())
	}
	testutil.WaitFor(t, "the server to free the port after detach", func() bool {
		for _, p := range l.svc.Ports() {
			if p.Name == "mp0" {
				return p.Holder == ""
			}
		}
		return false
	})
}

// rawConn is a protocol-level client in the client namespace.
func (l *lab) rawConn(t *testing.T) (*tls.Conn, *proto.Reader) {
	t.Helper()
	tc, err := l.dialOpts(t).tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	var raw net.Conn
	if err := l.client.Do(func() (err error) {
		raw, err = net.Dial("tcp", l.addr())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, tc)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, proto.NewReader(bufio.NewReader(c))
}

func writeMsg(t *testing.T, c net.Conn, h proto.Header, payload []byte) {
	t.Helper()
	if _, err := c.Write(proto.Build(nil, h, payload)); err != nil {
		t.Fatal(err)
	}
}

// expectError reads until an error message and checks its code; then the
// server must close the session when closing is true.
func expectError(t *testing.T, r *proto.Reader, code proto.Code, closing bool) *proto.Error {
	t.Helper()
	for {
		m, err := r.Next()
		if err != nil {
			t.Fatalf("want error %v, got %v", code, err)
		}
		if m.Type != proto.TypeError {
			continue
		}
		e, err := proto.ParseError(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if e.Code != code {
			t.Fatalf("error %v, want %v", e, code)
		}
		if closing {
			for {
				if _, err := r.Next(); err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
						t.Errorf("after the error: %v, want the connection closed", err)
					}
					break
				}
			}
		}
		return e
	}
}

func hello(tok string) []byte {
	return proto.AppendHello(nil, proto.Hello{Versions: []uint8{proto.Version}, Token: tok, Client: "test"})
}

// Protocol misuse ends that session with an error naming the problem;
// other sessions go on.
func TestProtocolErrors(t *testing.T) {
	l := newLab(t, nil)
	q := proto.Header{Version: proto.Version, Type: proto.TypeQuery, Seq: 1}

	// Nothing but an error before authentication.
	c, r := l.rawConn(t)
	writeMsg(t, c, q, proto.AppendOp(nil, proto.OpList))
	expectError(t, r, proto.CodeAuth, true)

	// A version the server does not speak: the error lists its versions.
	c, r = l.rawConn(t)
	h9 := q
	h9.Version = 9
	writeMsg(t, c, h9, proto.AppendHello(nil, proto.Hello{Versions: []uint8{9}, Token: l.token(t)}))
	if e := expectError(t, r, proto.CodeVersion, true); len(e.Versions) != 1 || e.Versions[0] != proto.Version ||
		!strings.Contains(e.Error(), "supported versions: 1") {
		t.Errorf("version error %v", e)
	}

	// A healthy session stays up while others misbehave.
	good, gr := l.rawConn(t)
	writeMsg(t, good, q, hello(l.token(t)))
	if m, err := gr.Next(); err != nil || m.Type != proto.TypeResponse {
		t.Fatalf("hello: %v %v", m.Header, err)
	}

	// Oversized, then garbage.
	c, r = l.rawConn(t)
	writeMsg(t, c, q, hello(l.token(t)))
	if m, err := r.Next(); err != nil || m.Type != proto.TypeResponse {
		t.Fatalf("hello: %v %v", m.Header, err)
	}
	big := proto.AppendHeader(nil, proto.Header{Version: proto.Version, Type: proto.TypeData, Channel: 1, Seq: 2, Length: proto.MaxPayload + 1})
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	expectError(t, r, proto.CodeTooLarge, true)
	c, r = l.rawConn(t)
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	expectError(t, r, proto.CodeMalformed, true)

	// A data message whose frame runs past its payload.
	c, r = l.rawConn(t)
	writeMsg(t, c, q, hello(l.token(t)))
	writeMsg(t, c, proto.Header{Version: proto.Version, Type: proto.TypeQuery, Channel: 1, Seq: 2}, proto.AppendRequest(nil, proto.Request{Port: "mp0"}))
	var dw proto.DataWriter
	dw.Reset(nil, 1, 3)
	dw.Add(0, 0, proto.DirTX, 60, make([]byte, 60))
	msg := dw.Finish()
	msg = msg[:len(msg)-10]
	msg[15] -= 10 // payload length matches the bytes sent; the frame claims more
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	expectError(t, r, proto.CodeMalformed, true)
	testutil.WaitFor(t, "the bad session's port to be free", func() bool {
		for _, p := range l.svc.Ports() {
			if p.Name == "mp0" {
				return p.Holder == ""
			}
		}
		return false
	})

	// The healthy session still answers.
	writeMsg(t, good, proto.Header{Version: proto.Version, Type: proto.TypeQuery, Seq: 2}, proto.AppendOp(nil, proto.OpList))
	for {
		m, err := gr.Next()
		if err != nil {
			t.Fatalf("healthy session: %v", err)
		}
		if m.Type == proto.TypeResponse && m.Seq == 2 {
			ports, err := proto.ParsePorts(m.Payload[2:])
			if err != nil || len(ports) != 2 {
				t.Errorf("ports %+v %v", ports, err)
			}
			break
		}
	}
}

// A monitor gets the port's frames with the appliance's timestamps, the
// core's timestamp source and the direction.
func TestDataTimestamps(t *testing.T) {
	l := newLab(t, nil)
	c, r := l.rawConn(t)
	writeMsg(t, c, proto.Header{Version: proto.Version, Type: proto.TypeQuery, Seq: 1}, hello(l.token(t)))
	writeMsg(t, c, proto.Header{Version: proto.Version, Type: proto.TypeQuery, Channel: 7, Seq: 2},
		proto.AppendRequest(nil, proto.Request{Port: "mp0", Mode: proto.ModeMonitor}))
	for {
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == proto.TypeResponse && m.Seq == 2 {
			break
		}
		if m.Type == proto.TypeError {
			e, _ := proto.ParseError(m.Payload)
			t.Fatal(e)
		}
	}
	before := time.Now().UnixNano()
	arping := l.host.Command("arping", "-c", "3", "-i", "0.2", "-I", "lab0", "192.168.77.9")
	// Nobody answers 192.168.77.9; the requests are what the port sees.
	if out, err := arping.CombinedOutput(); err != nil && !strings.Contains(string(out), "3 packets transmitted") {
		t.Fatalf("arping: %v %s", err, out)
	}
	got := 0
	for got < 3 {
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != proto.TypeData {
			continue
		}
		if m.Channel != 7 {
			t.Fatalf("data on channel %d, want 7", m.Channel)
		}
		after := time.Now().UnixNano()
		err = proto.ForEachFrame(m.Payload, func(f proto.Frame) error {
			if f.Dir != proto.DirRX || f.Timestamp < before || f.Timestamp > after ||
				(f.Source != proto.TSXDP && f.Source != proto.TSEngine) || int(f.WireLen) != len(f.Data) {
				t.Errorf("frame: dir %d ts %d (window %d..%d) source %d wire %d len %d", f.Dir, f.Timestamp, before, after, f.Source, f.WireLen, len(f.Data))
			}
			got++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// When the tunnel runs over the mirrored port, the port's other traffic is
// mirrored but the tunnel's own segments are not (they would feed back).
func TestTunnelOverMirroredPort(t *testing.T) {
	l := newLab(t, func(c *Config) { c.Listen = "10.77.0.2:7412"; c.Ports = append(c.Ports, "ma0") })
	if _, err := l.core.OpenPort(capture.PortConfig{Name: "ma0", NetNS: l.appliance.Path}); err != nil {
		t.Fatal(err)
	}
	c := l.attach(t, "-server", l.addr(), "-ca", l.ca(), "-token", l.token(t), "-port", "ma0", "-as", "mir0", "-monitor")
	c.WaitLine(t, "attach to the tunnel's own port", "connected=true")
	dump := l.dumpTAP(t)
	// Pings over mc0/ma0 are mirrored; the tunnel keeps talking meanwhile
	// (both sides ping every 2 s).
	l.client.Run(t, "ping", "-c", "5", "-i", "0.5", "10.77.0.2")
	read := dump()
	if !strings.Contains(read, "ICMP echo request") {
		t.Errorf("the port's pings were not mirrored:\n%s", read)
	}
	if strings.Contains(read, ".7412") {
		t.Errorf("the tunnel's own segments were mirrored into it:\n%s", read)
	}
}

// The core decides who holds a port: while another consumer of the core
// owns mp0's ingress exclusively, a client asking for it is refused busy
// (the core's ErrBusy), and while a client holds it the core refuses
// other exclusive owners. Monitors are read-only and may always join.
func TestBusyThroughCore(t *testing.T) {
	l := newLab(t, nil)
	h := l.client.Netlink(t)
	port := l.core.Port("mp0")
	other := l.core.NewConsumer("test owner")
	if _, err := other.Subscribe(port, capture.SubscribeOptions{Name: "test owner", Kind: capture.Owner, Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	args := []string{"-server", l.addr(), "-ca", l.ca(), "-as", "mir0", "-token", l.token(t), "-port", "mp0"}
	out := l.attachFails(t, args...)
	if !strings.Contains(out, "port busy") || !strings.Contains(out, "another consumer of the core") {
		t.Errorf("attach while another consumer owns the port:\n%s", out)
	}
	if linkOf(t, h, "mir0") != nil {
		t.Error("busy: a TAP was left behind")
	}
	mon := l.attach(t, "-server", l.addr(), "-ca", l.ca(), "-as", "mir1", "-token", l.token(t), "-port", "mp0", "-monitor")
	mon.WaitLine(t, "a monitor next to the other owner", "connected=true")

	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	c := l.attach(t, args...)
	c.WaitLine(t, "the client once the port is free", "connected=true")
	k := l.core.NewConsumer("late owner")
	defer k.Close()
	if _, err := k.Subscribe(port, capture.SubscribeOptions{Name: "late owner", Kind: capture.Owner, Exclusive: true}); !errors.Is(err, capture.ErrBusy) {
		t.Errorf("an exclusive owner while a mirror client holds the port: %v, want ErrBusy", err)
	}
	if _, err := k.Subscribe(port, capture.SubscribeOptions{Name: "late owner", Kind: capture.Owner}); !errors.Is(err, capture.ErrBusy) {
		t.Errorf("a shared owner while a mirror client holds the port: %v, want ErrBusy", err)
	}
}
