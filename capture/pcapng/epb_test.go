package pcapng

import (
	"bufio"
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestEPBMatchesPcapgo checks that our own enhanced packet block encoding
// gives the same bytes as pcapgo's WritePacketWithOptions for the same
// packets: every data length modulo 4, both directions and none, with and
// without the per-packet timestamp source comment.
func TestEPBMatchesPcapgo(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(Options{Dir: dir, Prefix: "epb", Interfaces: twoPorts()})
	if err != nil {
		t.Fatal(err)
	}
	var ref bytes.Buffer
	rbw := bufio.NewWriterSize(&ref, 1<<16)
	first, err := w.ngInterface(0)
	if err != nil {
		t.Fatal(err)
	}
	ng, err := pcapgo.NewNgWriterInterface(rbw, first, pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "wirebox", OS: "Linux"},
	})
	if err != nil {
		t.Fatal(err)
	}
	second, _ := w.ngInterface(1)
	if _, err := ng.AddInterface(second); err != nil {
		t.Fatal(err)
	}
	n := 0
	for size := 0; size < 70; size += 7 {
		for _, dir := range []Direction{DirUnknown, DirInbound, DirOutbound} {
			for _, src := range []TimestampSource{TSUnknown, TSKernel, TSHardware, TSTransmit} {
				data := make([]byte, size)
				for i := range data {
					data[i] = byte(n + i)
				}
				p := Packet{Interface: n % 2, Timestamp: base.Add(int64ns(n)), Data: data, Length: size + n%3, Direction: dir, TSSource: src}
				if err := w.WritePacket(p); err != nil {
					t.Fatal(err)
				}
				var opts pcapgo.NgPacketOptions
				if dir != DirUnknown {
					opts.Flags = &pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlag(dir)}
				}
				if src != TSUnknown && src != w.opt.Interfaces[p.Interface].TSSource {
					opts.Comments = []string{"timestamp source: " + src.String()}
				}
				ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: size, Length: size + n%3, InterfaceIndex: p.Interface}
				if err := ng.WritePacketWithOptions(ci, data, opts); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ng.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(w.Files()[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ref.Bytes()) {
		i := 0
		for i < len(got) && i < len(ref.Bytes()) && got[i] == ref.Bytes()[i] {
			i++
		}
		t.Fatalf("%d packets: our file (%d bytes) differs from pcapgo's (%d bytes) at byte %d", n, len(got), ref.Len(), i)
	}
}

func int64ns(n int) (d time.Duration) { return time.Duration(n) * 1001 }
