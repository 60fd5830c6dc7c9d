package mirror

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tsoV4 is an IPv4 TSO super-segment as the stack hands it to the TAP
// (header included) and its payload.
func tsoV4(t *testing.T, n int) ([]byte, []byte) {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 100, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
	tcp := &layers.TCP{SrcPort: 5201, DstPort: 40000, Seq: 1000, Ack: 7, ACK: true, PSH: true, Window: 500,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2}}}}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	h := make([]byte, vnetHdrLen)
	h[0], h[1] = vnetNeedsCsum, vnetGSOTCPv4
	binary.LittleEndian.PutUint16(h[4:], 1448)
	binary.LittleEndian.PutUint16(h[6:], 34)
	binary.LittleEndian.PutUint16(h[8:], 16)
	return append(h, sb.Bytes()...), payload
}

// Segments the appliance sends the client are merged back into one TAP
// write (user-space GRO) that splits into the same segments again.
func TestCoalesce(t *testing.T) {
	tso, _ := tsoV4(t, 5000)
	var segs [][]byte
	if err := splitOffload(tso, nil, func(f []byte) { segs = append(segs, append([]byte(nil), f...)) }); err != nil || len(segs) != 4 {
		t.Fatalf("split: %d segments, %v", len(segs), err)
	}
	var c coalescer
	for i, f := range segs {
		if !c.add(f) {
			t.Fatalf("segment %d not merged", i)
		}
	}
	merged := append([]byte(nil), c.frame()...)
	var again [][]byte
	if err := splitOffload(merged, nil, func(f []byte) { again = append(again, append([]byte(nil), f...)) }); err != nil {
		t.Fatal(err)
	}
	if len(again) != len(segs) {
		t.Fatalf("%d segments again, want %d", len(again), len(segs))
	}
	for i := range segs {
		if !bytes.Equal(again[i], segs[i]) {
			t.Errorf("segment %d differs:\n%x\n%x", i, again[i], segs[i])
		}
	}
	// A gap in the sequence, another flow or a non-TCP frame ends a run.
	c = coalescer{}
	c.add(segs[0])
	if c.add(segs[2]) {
		t.Error("merged across a sequence gap")
	}
	other := append([]byte(nil), segs[1]...)
	other[34] ^= 1 // source port
	if c.add(other) {
		t.Error("merged another flow")
	}
	if c.add(arp()) {
		t.Error("merged an ARP frame")
	}
}

func arp() []byte {
	b := make([]byte, 42)
	b[12], b[13] = 0x08, 0x06
	return b
}

// A TSO segment as the stack hands it to the TAP becomes MSS-sized frames
// that gopacket decodes with valid checksums, sequence numbers and flags.
func TestSplitOffload(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		payload := make([]byte, 4000)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		tcp := &layers.TCP{SrcPort: 5201, DstPort: 40000, Seq: 1000, Ack: 7, ACK: true, PSH: true, FIN: true, Window: 500}
		var net4 *layers.IPv4
		var net6 *layers.IPv6
		var nl gopacket.SerializableLayer
		if v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
			net6 = &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
			_ = tcp.SetNetworkLayerForChecksum(net6)
			nl = net6
		} else {
			net4 = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 100, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
			_ = tcp.SetNetworkLayerForChecksum(net4)
			nl = net4
		}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, nl, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		pkt := sb.Bytes()
		tcpOff := 14 + 20
		gso := byte(vnetGSOTCPv4)
		if v6 {
			tcpOff, gso = 14+40, vnetGSOTCPv6
		}
		// What the kernel hands over: the TCP checksum not done.
		pkt[tcpOff+16], pkt[tcpOff+17] = 0xde, 0xad
		h := make([]byte, vnetHdrLen)
		h[0], h[1] = vnetNeedsCsum, gso
		binary.LittleEndian.PutUint16(h[2:], uint16(tcpOff+20))
		binary.LittleEndian.PutUint16(h[4:], 1448)
		binary.LittleEndian.PutUint16(h[6:], uint16(tcpOff))
		binary.LittleEndian.PutUint16(h[8:], 16)
		var got []byte
		n := 0
		err := splitOffload(append(h, pkt...), nil, func(f []byte) {
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			seg := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if int(seg.Seq) != 1000+n*1448 || seg.FIN != (n == 2) || seg.PSH != (n == 2) {
				t.Errorf("v6=%t segment %d: seq %d fin %t psh %t", v6, n, seg.Seq, seg.FIN, seg.PSH)
			}
			want := seg.Checksum
			if v6 {
				_ = seg.SetNetworkLayerForChecksum(p.Layer(layers.LayerTypeIPv6).(*layers.IPv6))
			} else {
				ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				if int(ip.Length) != len(f)-14 || ip.Id != uint16(100+n) || fold(sum(f[14:34], 0)) != 0xffff {
					t.Errorf("segment %d: IPv4 length %d id %d, bad header checksum", n, ip.Length, ip.Id)
				}
				_ = seg.SetNetworkLayerForChecksum(ip)
			}
			re := gopacket.NewSerializeBuffer()
			_ = gopacket.SerializeLayers(re, gopacket.SerializeOptions{ComputeChecksums: true}, seg, gopacket.Payload(seg.Payload))
			if c := binary.BigEndian.Uint16(re.Bytes()[16:]); c != want {
				t.Errorf("v6=%t segment %d: TCP checksum %04x, want %04x", v6, n, want, c)
			}
			got = append(got, seg.Payload...)
			n++
		})
		if err != nil || n != 3 || !bytes.Equal(got, payload) {
			t.Errorf("v6=%t: %d segments, %v, payload intact %t", v6, n, err, bytes.Equal(got, payload))
		}
	}
}
