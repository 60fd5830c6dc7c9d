package pcapng

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
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

// readAllQuiet reads what it can; err is what ended the read (nil at a
// clean end).
func readAllQuiet(path string) (r *Reader, recs []Record, err error) {
	if r, err = Open(path); err != nil {
		return nil, nil, err
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return r, recs, nil
		}
		if err != nil {
			return r, recs, err
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
