package drmon

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func build(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ipFrame(t *testing.T, src, dst byte, l4 gopacket.SerializableLayer, proto layers.IPProtocol, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IPv4(10, 0, 0, src), DstIP: net.IPv4(10, 0, 0, dst)}
	if tcp, ok := l4.(*layers.TCP); ok {
		tcp.SetNetworkLayerForChecksum(ip)
	}
	return build(t, &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, src}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, dst}, EthernetType: layers.EthernetTypeIPv4},
		ip, l4, gopacket.Payload(payload))
}

// TestCausalOrder: answers stamped (by another agent's clock) before what
// they answer go after it; frames of one agent and unrelated frames keep
// their order.
func TestCausalOrder(t *testing.T) {
	req := ipFrame(t, 1, 2, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}, layers.IPProtocolICMPv4, []byte("ping"))
	rep := ipFrame(t, 2, 1, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 7, Seq: 1}, layers.IPProtocolICMPv4, []byte("ping"))
	other := ipFrame(t, 2, 1, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 7, Seq: 2}, layers.IPProtocolICMPv4, []byte("ping"))
	data := ipFrame(t, 1, 2, &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 1, ACK: true, PSH: true, Window: 100}, layers.IPProtocolTCP, make([]byte, 50))
	ack := ipFrame(t, 2, 1, &layers.TCP{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 1050, ACK: true, Window: 100}, layers.IPProtocolTCP, nil)
	pkts := []Captured{
		{Agent: "h2", Time: 100, Data: rep},
		{Agent: "h2", Time: 110, Data: other},
		{Agent: "h2", Time: 120, Data: ack},
		{Agent: "h1", Time: 130, Data: req},
		{Agent: "h1", Time: 140, Data: data},
	}
	if n := causalOrder(pkts); n != 2 {
		t.Errorf("moved %d, want 2", n)
	}
	want := []struct {
		data []byte
		time int64
	}{{other, 110}, {req, 130}, {rep, 130}, {data, 140}, {ack, 140}}
	for i, w := range want {
		if string(pkts[i].Data) != string(w.data) || pkts[i].Time != w.time {
			t.Errorf("#%d: %s at %d", i, pkts[i].Agent, pkts[i].Time)
		}
	}
	// One agent's own order is its clock's: not changed.
	same := []Captured{{Agent: "h1", Time: 1, Data: rep}, {Agent: "h1", Time: 2, Data: req}}
	if n := causalOrder(same); n != 0 {
		t.Errorf("moved %d frames of one agent", n)
	}
}
