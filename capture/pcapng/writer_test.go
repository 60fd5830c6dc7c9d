package pcapng

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/pkttest"
)

var base = time.Unix(1700000000, 123456789)

func twoPorts() []Interface {
	return []Interface{
		{Name: "eth-a", Description: "port a", TSSource: TSKernel},
		{Name: "eth-b", TSSource: TSHardware, SnapLen: 128},
	}
}

// writeSample writes n frames alternating between the two ports, with
// nanosecond-distinct timestamps and both directions.
func writeSample(t testing.TB, w *Writer, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		frame := pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1000, uint16(2000+i%7), []byte(fmt.Sprintf("payload %06d %s", i, strings.Repeat("x", i%300))))
		p := Packet{Interface: i % 2, Timestamp: base.Add(time.Duration(i) * 1001), Data: frame, Direction: Direction(1 + i%2)}
		if i%2 == 1 && len(frame) > 128 {
			p.Length, p.Data = len(frame), frame[:128]
		}
		if i == 3 {
			p.TSSource = TSSoftware
		}
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTsharkReadsOurFiles(t *testing.T) {
	pkttest.Need(t, "tshark", "capinfos")
	for _, c := range []Compression{CompressNone, CompressGzip, CompressZstd} {
		t.Run(string(c), func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewWriter(Options{Dir: dir, Interfaces: twoPorts(), Compress: c, ChunkSize: 4096})
			if err != nil {
				t.Fatal(err)
			}
			const n = 500
			writeSample(t, w, n)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			files := w.Files()
			if len(files) != 1 || !strings.HasSuffix(files[0], ".pcapng"+c.Ext()) {
				t.Fatalf("files %v", files)
			}
			out := pkttest.Run(t, "tshark", "-r", files[0], "-T", "fields", "-E", "separator=|",
				"-e", "frame.time_epoch", "-e", "frame.interface_name", "-e", "frame.len", "-e", "frame.cap_len",
				"-e", "frame.packet_flags_direction", "-e", "frame.comment")
			lines := pkttest.Lines(out)
			if len(lines) != n {
				t.Fatalf("tshark read %d packets, wrote %d", len(lines), n)
			}
			for i, l := range lines {
				f := strings.Split(l, "|")
				want := base.Add(time.Duration(i) * 1001)
				wantTS := fmt.Sprintf("%d.%09d", want.Unix(), want.Nanosecond())
				if f[0] != wantTS {
					t.Fatalf("packet %d: time %s, want %s (nanosecond precision)", i, f[0], wantTS)
				}
				if wantName := []string{"eth-a", "eth-b"}[i%2]; f[1] != wantName {
					t.Fatalf("packet %d: interface %q, want %q", i, f[1], wantName)
				}
				flen, _ := strconv.Atoi(f[2])
				clen, _ := strconv.Atoi(f[3])
				if i%2 == 1 && flen > 128 && clen != 128 {
					t.Fatalf("packet %d: cap_len %d len %d, want truncation to 128", i, clen, flen)
				}
				if wantDir := strconv.Itoa(1 + i%2); f[4] != wantDir && f[4] != "0x0000000"+wantDir && f[4] != "0x"+wantDir {
					t.Fatalf("packet %d: direction %q, want %s", i, f[4], wantDir)
				}
				if (i == 3) != strings.Contains(f[5], "timestamp source: software") {
					t.Fatalf("packet %d: comment %q", i, f[5])
				}
			}
			info := pkttest.Run(t, "capinfos", "-c", "-I", "-M", files[0])
			if !strings.Contains(info, "Number of packets:   500") && !strings.Contains(info, "Number of packets: 500") {
				t.Fatalf("capinfos: %s", info)
			}
			for _, want := range []string{"Name = eth-a", "Name = eth-b", "timestamp source: kernel", "timestamp source: hardware", "Time precision = nanoseconds"} {
				if !strings.Contains(info, want) {
					t.Errorf("capinfos -I lacks %q:\n%s", want, info)
				}
			}
			// And our own reader agrees.
			r, err := Open(files[0])
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i := 0; ; i++ {
				rec, err := r.Next()
				if err == io.EOF {
					if i != n {
						t.Fatalf("read %d, want %d", i, n)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.Compression != c || r.Format != FormatPcapNG || !r.Nanosecond {
					t.Fatalf("reader detected %s/%s ns=%v", r.Compression, r.Format, r.Nanosecond)
				}
				if !rec.Timestamp.Equal(base.Add(time.Duration(i)*1001)) || rec.Interface != i%2 || rec.Direction != Direction(1+i%2) {
					t.Fatalf("record %d: %+v", i, rec)
				}
				if r.InterfaceName(rec.Interface) != []string{"eth-a", "eth-b"}[i%2] {
					t.Fatalf("record %d: interface name %q", i, r.InterfaceName(rec.Interface))
				}
			}
		})
	}
}

func TestRotationBySizeKeep(t *testing.T) {
	pkttest.Need(t, "tshark")
	for _, c := range []Compression{CompressNone, CompressZstd} {
		t.Run(string(c), func(t *testing.T) {
			dir := t.TempDir()
			w, err := NewWriter(Options{Dir: dir, Prefix: "rot", Interfaces: twoPorts(), Compress: c, ChunkSize: 2048, RotateSize: 8 << 10, Keep: 3})
			if err != nil {
				t.Fatal(err)
			}
			writeSample(t, w, 2000)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			st := w.Stats()
			if st.Files < 5 {
				t.Fatalf("only %d files for 2000 packets at 8 KiB", st.Files)
			}
			files, err := ListFiles(dir, "rot")
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 3 || strings.Join(files, ",") != strings.Join(w.Files(), ",") {
				t.Fatalf("on disk %v, writer says %v", files, w.Files())
			}
			// The kept files hold the newest packets, contiguous, ending with the last.
			var all []string
			for _, f := range files {
				fi, _ := os.Stat(f)
				if c == CompressNone && fi.Size() > 8<<10+2048+1024 {
					t.Errorf("%s is %d bytes, limit 8 KiB", f, fi.Size())
				}
				all = append(all, pkttest.Lines(pkttest.Run(t, "tshark", "-r", f, "-T", "fields", "-e", "frame.time_epoch"))...)
			}
			last := base.Add(1999 * 1001)
			if all[len(all)-1] != fmt.Sprintf("%d.%09d", last.Unix(), last.Nanosecond()) {
				t.Fatalf("last packet %s", all[len(all)-1])
			}
			first := base.Add(time.Duration(2000-len(all)) * 1001)
			if all[0] != fmt.Sprintf("%d.%09d", first.Unix(), first.Nanosecond()) {
				t.Fatalf("kept files are not contiguous: first %s, %d packets", all[0], len(all))
			}
		})
	}
}

func TestRotationByTime(t *testing.T) {
	dir := t.TempDir()
	now := base
	w, err := NewWriter(Options{Dir: dir, Interfaces: twoPorts(), RotateTime: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		now = base.Add(time.Duration(i) * 25 * time.Second)
		if err := w.WritePacket(Packet{Timestamp: now, Data: pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1, 2, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	// Opened at 0; rotations at 75s (i=3), 150s (i=6), 225s (i=9).
	if got := w.Stats().Files; got != 4 {
		t.Fatalf("%d files, want 4", got)
	}
	counts := []int{}
	for _, f := range w.Files() {
		r, err := Open(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			if _, err := r.Next(); err != nil {
				break
			}
			n++
		}
		r.Close()
		counts = append(counts, n)
	}
	if fmt.Sprint(counts) != "[3 3 3 1]" {
		t.Fatalf("packets per file %v, want [3 3 3 1]", counts)
	}
}

func TestWriterRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Interfaces: twoPorts()},
		{Dir: t.TempDir()},
		{Dir: t.TempDir(), Interfaces: twoPorts(), Compress: "lz4"},
		{Dir: t.TempDir(), Interfaces: []Interface{{}}},
		{Dir: t.TempDir(), Interfaces: twoPorts(), Prefix: "../x"},
	} {
		if w, err := NewWriter(o); err == nil {
			w.Close()
			t.Errorf("NewWriter(%+v) accepted", o)
		}
	}
}

// TestKill9LeavesReadableFiles runs a child process that writes rotating
// files as fast as it can, kills it with SIGKILL, repairs what the child
// left marked, and checks that tshark reads every file without complaint.
func TestKill9LeavesReadableFiles(t *testing.T) {
	pkttest.Need(t, "tshark", "zstd")
	if dir := os.Getenv("WIREBOX_PCAPNG_CHILD"); dir != "" {
		t.Skip("child mode runs from TestKill9Child")
	}
	for _, c := range []Compression{CompressNone, CompressGzip, CompressZstd} {
		t.Run(string(c), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.v")
			cmd.Env = append(os.Environ(), "WIREBOX_PCAPNG_CHILD="+dir, "WIREBOX_PCAPNG_COMPRESS="+string(c))
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until several files exist, so closed and current ones are checked.
			deadline := time.Now().Add(30 * time.Second)
			for {
				fs, _ := ListFiles(dir, "kill")
				if len(fs) >= 4 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child made only %d files", len(fs))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die by SIGKILL: %v", err)
			}
			// The file being written when the child died keeps its marker;
			// the repair cuts it back to its last whole chunk (most runs:
			// it already ends there, and only the marker goes).
			files, _ := ListFiles(dir, "kill")
			markers, _ := filepath.Glob(filepath.Join(dir, ".*"+markerSuffix))
			if len(markers) != 1 || markers[0] != filepath.Join(dir, markerName(filepath.Base(files[len(files)-1]))) {
				t.Fatalf("markers after kill -9: %v, want the last file's of %v", markers, files)
			}
			rs, err := RepairDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("repaired: %+v", rs)
			if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
				t.Fatalf("markers left after the repair: %v", left)
			}
			files, _ = ListFiles(dir, "kill")
			total := 0
			for _, f := range files {
				if c == CompressZstd {
					// tshark 4.0 misreads files of several zstd frames,
					// even the zstd tool's own (zstd -1 of parts, cat):
					// the reference decoder checks the frames (a frame cut
					// short is an error), tshark the pcapng inside.
					plain := f + ".pcapng"
					pkttest.Run(t, "zstd", "-q", "-d", "-o", plain, f)
					f = plain
				}
				out, errOut, err := pkttest.RunErr("tshark", "-r", f, "-T", "fields", "-e", "frame.number")
				if err != nil || strings.Contains(errOut, "cut short") || strings.Contains(errOut, "appears") {
					t.Fatalf("tshark on %s after kill -9: %v\n%s", filepath.Base(f), err, errOut)
				}
				total += len(pkttest.Lines(out))
			}
			t.Logf("%d files, %d packets readable after kill -9", len(files), total)
			if total == 0 {
				t.Fatal("no packets survived")
			}
		})
	}
}

// TestKill9Child is the writer process of TestKill9LeavesReadableFiles.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv("WIREBOX_PCAPNG_CHILD")
	if dir == "" {
		t.Skip("only run as the child of TestKill9LeavesReadableFiles")
	}
	w, err := NewWriter(Options{Dir: dir, Prefix: "kill", Interfaces: twoPorts(), Compress: Compression(os.Getenv("WIREBOX_PCAPNG_COMPRESS")),
		ChunkSize: 5000, RotateSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	// Batches alternate between WritePackets (writev of references when
	// uncompressed, with frames of every size class) and WritePacket
	// (the chunk buffer), so both paths are killed mid-file.
	_, ps := gatherSample(64)
	for i := 0; ; i++ {
		for j := range ps {
			ps[j].Timestamp = base.Add(time.Duration(i*len(ps) + j))
		}
		if i%2 == 0 {
			if _, err := w.WritePackets(ps); err != nil {
				t.Fatal(err)
			}
		} else {
			for _, p := range ps {
				if err := w.WritePacket(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i%4 == 0 {
			time.Sleep(time.Millisecond) // let the parent see the files grow
		}
	}
}

// TestTsharkNoticesTruncation proves the kill -9 check can fail: a file
// cut inside a block makes tshark complain.
func TestTsharkNoticesTruncation(t *testing.T) {
	pkttest.Need(t, "tshark")
	dir := t.TempDir()
	w, err := NewWriter(Options{Dir: dir, Interfaces: twoPorts()})
	if err != nil {
		t.Fatal(err)
	}
	writeSample(t, w, 20)
	w.Close()
	f := w.Files()[0]
	fi, _ := os.Stat(f)
	if err := os.Truncate(f, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := pkttest.RunErr("tshark", "-r", f)
	if err == nil && !strings.Contains(errOut, "cut short") {
		t.Fatalf("tshark accepted a file cut inside a block: %s", errOut)
	}
}
