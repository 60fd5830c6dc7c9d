package capturecli

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/internal/pkttest"
)

// TestCaptureRepair: `wirebox capture repair FILE` cuts a file a crash cut
// inside a block back to its last whole one, and says so; tshark then
// reads it without complaint.
func TestCaptureRepair(t *testing.T) {
	pkttest.Need(t, "tshark")
	dir := t.TempDir()
	w, err := pcapng.NewWriter(pcapng.Options{Dir: dir, Interfaces: []pcapng.Interface{{Name: "p0"}}, ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	frame := pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1, 2, make([]byte, 200))
	for i := 0; i < 100; i++ {
		if err := w.WritePacket(pcapng.Packet{Timestamp: time.Unix(1700000000, int64(i)), Data: frame}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	f := w.Files()[0]
	fi, _ := os.Stat(f)
	if err := os.Truncate(f, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := pkttest.RunErr("tshark", "-r", f); err == nil && !strings.Contains(errOut, "cut short") {
		t.Fatalf("tshark read the cut file without complaint: %s", errOut)
	}
	run := func() string {
		var out bytes.Buffer
		c := newCaptureRepairCmd()
		c.SetOut(&out)
		c.SetArgs([]string{f})
		if err := c.Execute(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if out := run(); !strings.Contains(out, f+": ") || !strings.Contains(out, " -> ") {
		t.Fatalf("repair said %q", out)
	}
	out, errOut, err := pkttest.RunErr("tshark", "-r", f, "-T", "fields", "-e", "frame.number")
	if err != nil || strings.Contains(errOut, "cut short") {
		t.Fatalf("tshark on the repaired file: %v %s", err, errOut)
	}
	if n := len(pkttest.Lines(out)); n != 99 {
		t.Fatalf("tshark read %d packets, want the 99 whole ones", n)
	}
	if out := run(); out != f+": whole\n" {
		t.Fatalf("second repair said %q, want whole", out)
	}
}
