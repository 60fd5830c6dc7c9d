package mirror

import (
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/wirebox/wirebox/mirror/proto"
)

// pcapOut writes the tunnel's frames as pcapng with the appliance's stamps.
type pcapOut struct{ w *pcapgo.NgWriter }

func newPcap(w io.Writer, port string) (*pcapOut, error) {
	intf := pcapgo.NgInterface{
		Name:                port,
		Description:         "wirebox mirror of appliance port " + port,
		LinkType:            layers.LinkTypeEthernet,
		SnapLength:          0,
		TimestampResolution: 9, // nanoseconds, as the appliance stamps them
	}
	ng, err := pcapgo.NewNgWriterInterface(w, intf, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		return nil, fmt.Errorf("mirror: pcap: %w", err)
	}
	return &pcapOut{ng}, nil
}

func (p *pcapOut) write(f proto.Frame) error {
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(0, f.Timestamp),
		CaptureLength: len(f.Data),
		Length:        max(int(f.WireLen), len(f.Data)),
	}
	if err := p.w.WritePacketWithOptions(ci, f.Data, pcapgo.NgPacketOptions{Flags: &pcapgo.NgEpbFlags{Direction: epbDirection(f.Dir)}}); err != nil {
		return fmt.Errorf("mirror: pcap: %w", err)
	}
	return nil
}

// epbDirection is the pcapng direction of a frame's direction on the
// appliance port.
func epbDirection(dir uint8) pcapgo.NgEpbFlag {
	if dir == proto.DirTX {
		return pcapgo.NgEpbFlagDirectionOutbound
	}
	return pcapgo.NgEpbFlagDirectionInbound
}
