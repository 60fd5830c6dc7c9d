// Package pkttest builds real frames and runs the peer tools (tshark,
// capinfos, tcpdump) for the capture packages' tests.
package pkttest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// UDP builds an Ethernet/IPv4/UDP frame with the given payload.
func UDP(tb testing.TB, src, dst string, sport, dport uint16, payload []byte) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	return serialize(tb, eth, ip, udp, gopacket.Payload(payload))
}

// TCP builds an Ethernet/IPv4/TCP frame.
func TCP(tb testing.TB, src, dst string, sport, dport uint16, syn, ack bool, payload []byte) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: syn, ACK: ack, Window: 1024, Seq: 1}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	return serialize(tb, eth, ip, tcp, gopacket.Payload(payload))
}

// Serialize serializes layers with lengths and checksums fixed.
func Serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	return serialize(tb, ls...)
}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// Need fails the test if a peer tool is missing (they are installed by
// make test's deps step, so missing is a setup error, not a skip).
func Need(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			tb.Fatalf("peer tool %s not installed (apt-get install tshark tcpdump tcpreplay): %v", t, err)
		}
	}
}

// Run runs a tool and returns its stdout; it fails the test on a non-zero exit.
func Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, errOut, err := RunErr(name, args...)
	if err != nil {
		tb.Fatalf("%s %s: %v\nstderr: %s", name, strings.Join(args, " "), err, errOut)
	}
	return out
}

// RunErr runs a tool and returns stdout, stderr and the exit error.
func RunErr(name string, args ...string) (string, string, error) {
	var o, e bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	// tshark refuses to run from a few odd working directories; keep HOME sane.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	err := cmd.Run()
	return o.String(), e.String(), err
}

// Lines splits output into non-empty lines.
func Lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}
