package pcapng

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestReadLiveCaptures reads what dumpcap (pcapng) and tcpdump (pcap, both
// precisions) captured live on loopback inside a test namespace.
func TestReadLiveCaptures(t *testing.T) {
	pkttest.Need(t, "tcpdump", "dumpcap", "tshark", "ip", "bash")
	netns.Require(t)
	ns := netns.New(t)
	dir := t.TempDir()
	const n = 20
	count := fmt.Sprint(n)
	files := map[string]string{
		"dumpcap":    filepath.Join(dir, "dumpcap.pcapng"),
		"tcpdump-us": filepath.Join(dir, "tcpdump-us.pcap"),
		"tcpdump-ns": filepath.Join(dir, "tcpdump-ns.pcap"),
	}
	// dumpcap drops privileges only when setuid; as root it writes as root.
	pkttest.Start(t, ns.Command("dumpcap", "-q", "-i", "lo", "-c", count, "-f", "udp port 9999", "-w", files["dumpcap"]), "Capturing on")
	pkttest.Start(t, ns.Command("tcpdump", "-i", "lo", "-c", count, "-w", files["tcpdump-us"], "udp port 9999"), "listening on")
	pkttest.Start(t, ns.Command("tcpdump", "-i", "lo", "--time-stamp-precision=nano", "-c", count, "-w", files["tcpdump-ns"], "udp port 9999"), "listening on")
	send := fmt.Sprintf("for i in $(seq 1 %d); do printf 'wirebox %%d' $i > /dev/udp/127.0.0.1/9999; done", n)
	if out, err := ns.Command("bash", "-c", send).CombinedOutput(); err != nil {
		t.Fatalf("send: %v: %s", err, out)
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			// The tools exit after -c packets; until then the file may be partial.
			testutil.WaitFor(t, fmt.Sprintf("%s to hold %d packets", f, n), func() bool {
				if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
					return false
				}
				_, recs, _ := readAllQuiet(f)
				return len(recs) == n
			})
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
