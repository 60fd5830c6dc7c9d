package pcapng

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/pkttest"
)

// readAll reads every record with our reader.
func readAll(t testing.TB, path string) (*Reader, []Record) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var recs []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return r, recs
		}
		if err != nil {
			t.Fatalf("%s: record %d: %v", path, len(recs), err)
		}
		rec.Data = append([]byte(nil), rec.Data...)
		recs = append(recs, rec)
	}
}

// agreeWithTshark checks that our reader sees exactly what tshark sees:
// count, timestamps to the nanosecond, captured and original lengths.
func agreeWithTshark(t *testing.T, path string) []Record {
	t.Helper()
	_, recs := readAll(t, path)
	lines := pkttest.Lines(pkttest.Run(t, "tshark", "-r", path, "-T", "fields", "-E", "separator=|", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len"))
	if len(lines) != len(recs) {
		t.Fatalf("%s: we read %d packets, tshark %d", filepath.Base(path), len(recs), len(lines))
	}
	for i, l := range lines {
		want := fmt.Sprintf("%d.%09d|%d|%d", recs[i].Timestamp.Unix(), recs[i].Timestamp.Nanosecond(), recs[i].Length, len(recs[i].Data))
		if l != want {
			t.Fatalf("%s: packet %d: tshark %q, we %q", filepath.Base(path), i, l, want)
		}
	}
	return recs
}

func compressFile(t *testing.T, path, tool string) string {
	t.Helper()
	switch tool {
	case "gzip":
		pkttest.Run(t, "gzip", "-k", "-f", path)
		return path + ".gz"
	case "zstd":
		pkttest.Run(t, "zstd", "-q", "-f", path, "-o", path+".zst")
		return path + ".zst"
	}
	return path
}

func TestReadTcpdumpWrittenFiles(t *testing.T) {
	pkttest.Need(t, "tcpdump", "tshark", "gzip", "zstd")
	dir := t.TempDir()
	w, err := NewWriter(Options{Dir: dir, Interfaces: []Interface{{Name: "p0"}}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := 0; i < n; i++ {
		frame := pkttest.UDP(t, "10.1.0.1", "10.1.0.2", 5, 6, make([]byte, i*10))
		if err := w.WritePacket(Packet{Timestamp: base.Add(time.Duration(i) * 12345), Data: frame}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	src := w.Files()[0]
	us := filepath.Join(dir, "us.pcap")
	ns := filepath.Join(dir, "ns.pcap")
	pkttest.Run(t, "tcpdump", "-r", src, "-w", us)
	pkttest.Run(t, "tcpdump", "--time-stamp-precision=nano", "-r", src, "-w", ns)

	for _, c := range []struct {
		file string
		nano bool
	}{{us, false}, {ns, true}} {
		for _, comp := range []string{"", "gzip", "zstd"} {
			f := compressFile(t, c.file, comp)
			t.Run(filepath.Base(f), func(t *testing.T) {
				recs := agreeWithTshark(t, f)
				r, _ := readAll(t, f)
				if r.Format != FormatPcap || r.Nanosecond != c.nano {
					t.Fatalf("format %s nano %v, want pcap nano %v", r.Format, r.Nanosecond, c.nano)
				}
				if len(recs) != n {
					t.Fatalf("%d records", len(recs))
				}
				for i, rec := range recs {
					want := base.Add(time.Duration(i) * 12345)
					if !c.nano {
						want = want.Truncate(time.Microsecond)
					}
					if !rec.Timestamp.Equal(want) {
						t.Fatalf("record %d at %v, want %v", i, rec.Timestamp, want)
					}
				}
			})
		}
	}
}

// startCapture starts a capture tool and waits until it says it listens.
func startCapture(t *testing.T, cmd *exec.Cmd, marker string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var seen bytes.Buffer
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), marker) {
				ready <- ""
				io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- seen.String()
	}()
	select {
	case out := <-ready:
		if out != "" {
			t.Fatalf("%v exited before listening: %s", cmd.Args, out)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%v did not start listening", cmd.Args)
	}
}

// TestReadLiveCaptures reads what dumpcap (pcapng) and tcpdump (pcap, both
// precisions) captured live on loopback inside a test namespace.
func TestReadLiveCaptures(t *testing.T) {
	pkttest.Need(t, "tcpdump", "dumpcap", "tshark", "ip", "bash")
	ns := pkttest.NetNS(t)
	dir := t.TempDir()
	const n = 20
	count := fmt.Sprint(n)
	files := map[string]string{
		"dumpcap":    filepath.Join(dir, "dumpcap.pcapng"),
		"tcpdump-us": filepath.Join(dir, "tcpdump-us.pcap"),
		"tcpdump-ns": filepath.Join(dir, "tcpdump-ns.pcap"),
	}
	// dumpcap drops privileges only when setuid; as root it writes as root.
	startCapture(t, pkttest.InNS(ns, "dumpcap", "-q", "-i", "lo", "-c", count, "-f", "udp port 9999", "-w", files["dumpcap"]), "Capturing on")
	startCapture(t, pkttest.InNS(ns, "tcpdump", "-i", "lo", "-c", count, "-w", files["tcpdump-us"], "udp port 9999"), "listening on")
	startCapture(t, pkttest.InNS(ns, "tcpdump", "-i", "lo", "--time-stamp-precision=nano", "-c", count, "-w", files["tcpdump-ns"], "udp port 9999"), "listening on")
	send := fmt.Sprintf("for i in $(seq 1 %d); do printf 'wirebox %%d' $i > /dev/udp/127.0.0.1/9999; done", n)
	if out, err := pkttest.InNS(ns, "bash", "-c", send).CombinedOutput(); err != nil {
		t.Fatalf("send: %v: %s", err, out)
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			deadline := time.Now().Add(20 * time.Second)
			for {
				// The tools exit after -c packets; until then the file may be partial.
				if fi, err := os.Stat(f); err == nil && fi.Size() > 0 {
					if _, recs := readAllQuiet(f); len(recs) == n {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never held %d packets", f, n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			recs := agreeWithTshark(t, f)
			r, _ := readAll(t, f)
			wantFmt := FormatPcap
			if name == "dumpcap" {
				wantFmt = FormatPcapNG
			}
			if r.Format != wantFmt {
				t.Fatalf("format %s, want %s", r.Format, wantFmt)
			}
			if name == "dumpcap" && r.InterfaceName(0) != "lo" {
				t.Fatalf("interface %q", r.InterfaceName(0))
			}
			if !bytes.Contains(recs[n-1].Data, []byte(fmt.Sprintf("wirebox %d", n))) {
				t.Fatalf("last record lacks its payload: %q", recs[n-1].Data)
			}
			// gzip the file and read it again.
			gz := f + ".gz"
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			raw, _ := os.ReadFile(f)
			zw.Write(raw)
			zw.Close()
			os.WriteFile(gz, buf.Bytes(), 0o644)
			if _, again := readAll(t, gz); len(again) != n {
				t.Fatalf("gzip copy: %d records", len(again))
			}
		})
	}
}

func readAllQuiet(path string) (*Reader, []Record) {
	r, err := Open(path)
	if err != nil {
		return nil, nil
	}
	defer r.Close()
	var recs []Record
	for {
		rec, err := r.Next()
		if err != nil {
			return r, recs
		}
		recs = append(recs, rec)
	}
}

func TestReaderRejectsJunk(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("hello world, not a capture"), {0x1f, 0x8b, 0, 0}, {0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3}} {
		if r, err := NewReader(bytes.NewReader(in)); err == nil {
			if _, err := r.Next(); err == nil {
				t.Errorf("%q: accepted", in)
			}
		}
	}
}
