package pcapng

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/pkttest"
)

// sampleFile writes n frames in 4 KiB chunks and returns the file's bytes.
func sampleFile(t testing.TB, c Compression, n int) []byte {
	t.Helper()
	w, err := NewWriter(Options{Dir: t.TempDir(), Interfaces: twoPorts(), Compress: c, ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	writeSample(t, w, n)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(w.Files()[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRepairCutFiles cuts files inside their last chunks, as a SIGKILL in
// the middle of a write does, and repairs them: what is left is a prefix
// that our reader, tshark and (for zstd) the zstd tool read to a clean end.
func TestRepairCutFiles(t *testing.T) {
	pkttest.Need(t, "tshark", "zstd")
	for _, c := range []Compression{CompressNone, CompressGzip, CompressZstd} {
		t.Run(string(c), func(t *testing.T) {
			whole := sampleFile(t, c, 500)
			for _, cut := range []int{len(whole) - 1, len(whole) - 5, len(whole) - 700, len(whole) * 2 / 3, 30} {
				dir := t.TempDir()
				name := "cap-00001-x.pcapng" + c.Ext()
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, whole[:cut], 0o640); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, markerName(name)), nil, 0o640); err != nil {
					t.Fatal(err)
				}
				_, cutRecs, cutErr := readAllQuiet(path)
				if cutErr == nil && c == CompressNone {
					t.Fatalf("cut at %d of %d: our reader found no fault in the cut file", cut, len(whole))
				}
				rs, err := RepairDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) != 1 || rs[0].Path != path || rs[0].Size != int64(cut) || rs[0].Kept-rs[0].Salvaged >= int64(cut) {
					t.Fatalf("cut at %d: repaired %+v", cut, rs)
				}
				if _, err := os.Stat(filepath.Join(dir, markerName(name))); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("marker still there after the repair: %v", err)
				}
				if rs[0].Removed {
					if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) || cut > 100 {
						t.Fatalf("cut at %d: removed=%v, stat %v", cut, rs[0].Removed, err)
					}
					continue
				}
				got, err := os.ReadFile(path)
				if keep := rs[0].Kept - rs[0].Salvaged; err != nil || int64(len(got)) != rs[0].Kept || !bytes.Equal(got[:keep], whole[:keep]) {
					t.Fatalf("cut at %d: the repaired file does not start with the original's first %d bytes (%v)", cut, keep, err)
				}
				_, recs, err := readAllQuiet(path)
				n := len(recs)
				if err != nil || n == 0 {
					t.Fatalf("cut at %d: our reader read %d packets of the repaired file, then %v", cut, n, err)
				}
				// Nothing whole is lost: a compressed file's cut frame or
				// member gives up every block it still held.
				if n != len(cutRecs) {
					t.Fatalf("cut at %d: %d packets kept (%d bytes salvaged), %d were whole before the cut", cut, n, rs[0].Salvaged, len(cutRecs))
				}
				plain := path
				if c == CompressZstd {
					// tshark 4.0 misreads several zstd frames: the zstd tool checks them.
					plain = path + ".pcapng"
					pkttest.Run(t, "zstd", "-q", "-d", "-o", plain, path)
				}
				out, errOut, err := pkttest.RunErr("tshark", "-r", plain, "-T", "fields", "-e", "frame.number")
				if err != nil || strings.Contains(errOut, "cut short") || strings.Contains(errOut, "appears") {
					t.Fatalf("cut at %d: tshark on the repaired file: %v\n%s", cut, err, errOut)
				}
				if len(pkttest.Lines(out)) != n {
					t.Fatalf("cut at %d: tshark read %d packets, our reader %d", cut, len(pkttest.Lines(out)), n)
				}
			}
		})
	}
}

// TestRepairLeavesLiveAndWholeFiles: a writer's locked marker keeps its
// file untouched; a stale marker beside a whole file goes, the file stays.
func TestRepairLeavesLiveAndWholeFiles(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(Options{Dir: dir, Interfaces: twoPorts(), ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	writeSample(t, w, 200)
	cur := w.Stats().CurrentFile
	marker := filepath.Join(dir, markerName(filepath.Base(cur)))
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker beside the file being written: %v", err)
	}
	// Cut the live file's tail: a repair must not touch it anyway.
	fi, _ := os.Stat(cur)
	if err := os.Truncate(cur, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	if rs, err := RepairDir(dir); err != nil || len(rs) != 0 {
		t.Fatalf("RepairDir with a live writer: %+v %v", rs, err)
	}
	if fi2, _ := os.Stat(cur); fi2.Size() != fi.Size()-3 {
		t.Fatalf("the live file changed: %d -> %d", fi.Size()-3, fi2.Size())
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the live writer's marker went: %v", err)
	}
	w.Close()
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker left after Close: %v", err)
	}

	whole := sampleFile(t, CompressZstd, 100)
	path := filepath.Join(dir, "whole.pcapng.zst")
	os.WriteFile(path, whole, 0o640)
	os.WriteFile(filepath.Join(dir, markerName("whole.pcapng.zst")), nil, 0o640)
	if rs, err := RepairDir(dir); err != nil || len(rs) != 0 {
		t.Fatalf("RepairDir on a whole file: %+v %v", rs, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, whole) {
		t.Fatal("a whole file was changed")
	}
	if _, err := os.Stat(filepath.Join(dir, markerName("whole.pcapng.zst"))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale marker not removed: %v", err)
	}
}

func TestRepairRefusesOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(path, []byte("not a capture"), 0o640)
	if _, err := Repair(path); err == nil || !strings.Contains(err.Error(), "not a pcapng file") {
		t.Fatalf("Repair of a text file: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "not a capture" {
		t.Fatal("Repair changed a file it refused")
	}
}

// FuzzWholeLength: any bytes give a length within them, and that prefix
// is itself whole.
func FuzzWholeLength(f *testing.F) {
	for _, c := range []Compression{CompressNone, CompressGzip, CompressZstd} {
		b := sampleFile(f, c, 40)
		f.Add(b)
		f.Add(b[:len(b)-3])
	}
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x05, 0x29, 0, 0})
	f.Add([]byte{0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i'})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := WholeLength(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if n < 0 || n > int64(len(b)) {
			t.Fatalf("whole length %d of %d bytes", n, len(b))
		}
		if m, err := WholeLength(bufio.NewReader(bytes.NewReader(b[:n]))); n > 0 && (err != nil || m != n) {
			t.Fatalf("the whole prefix of %d bytes reads as %d, %v", n, m, err)
		}
	})
}

// TestRepairFollowsNoLinks: a marker beside a symbolic link to some other
// file does not make the repair touch that file.
func TestRepairFollowsNoLinks(t *testing.T) {
	dir := t.TempDir()
	whole := sampleFile(t, CompressNone, 50)
	target := filepath.Join(t.TempDir(), "victim.pcapng")
	os.WriteFile(target, whole[:len(whole)-3], 0o640)
	os.Symlink(target, filepath.Join(dir, "link.pcapng"))
	os.WriteFile(filepath.Join(dir, markerName("link.pcapng")), nil, 0o640)
	if _, err := RepairDir(dir); err == nil {
		t.Fatal("RepairDir gave no error for a marked symbolic link")
	}
	if got, _ := os.ReadFile(target); len(got) != len(whole)-3 {
		t.Fatalf("the link's target was changed: %d bytes", len(got))
	}
}

func TestMarkerNames(t *testing.T) {
	if got, ok := markedName(markerName("cap-00001-x.pcapng.zst")); !ok || got != "cap-00001-x.pcapng.zst" {
		t.Errorf("round trip: %q %v", got, ok)
	}
	for _, n := range []string{".writing", "..writing", "cap.pcapng.writing", ".cap.pcapng", ".cap.writing.gz"} {
		if got, ok := markedName(n); ok {
			t.Errorf("markedName(%q) = %q, a marker", n, got)
		}
	}
}
