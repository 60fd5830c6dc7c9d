package snmp

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestTsharkDecodesV3 records a net-snmp authPriv exchange with the agent,
// writes it to a pcap and has tshark decode, authenticate and decrypt it:
// no malformed packets, every response's digest "OK" and its PDU readable.
func TestTsharkDecodesV3(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatalf("tshark not installed (scripts/deps.sh test): %v", err)
	}
	tree, _ := testTree()
	_, addr := startAgent(t, Config{Users: testUsers}, tree)
	p, paddr := newProxy(t, addr)
	var resps [][]byte
	p.mu.Lock()
	p.rewrite = nil
	p.mu.Unlock()
	mustTool(t, "snmpbulkwalk", append(v3args("sha256aes", "authPriv", "SHA-256", "authpass256", "AES", "privpass256"), paddr, "1.3.6.1.2.1.1")...)
	// Replay the recorded requests to get the matching responses in order.
	reqs := p.requests()
	for _, r := range reqs {
		resps = append(resps, exchange(t, addr, r))
	}
	file := filepath.Join(t.TempDir(), "v3.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65536, layers.LinkTypeEthernet)
	ts := time.Now()
	write := func(payload []byte, fromAgent bool) {
		src, dst := 40000, 161
		if fromAgent {
			src, dst = 161, 40000
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{127, 0, 0, 1}, DstIP: net.IP{127, 0, 0, 1}}
		udp := &layers.UDP{SrcPort: layers.UDPPort(src), DstPort: layers.UDPPort(dst)}
		udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(time.Millisecond)
		w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes())
	}
	for i := range reqs {
		write(reqs[i], false)
		if resps[i] != nil {
			write(resps[i], true)
		}
	}
	f.Close()
	users := `uat:snmp_users:"","sha256aes","SHA2-256","authpass256","AES","privpass256"`
	count := func(filter string) (int, string) {
		t.Helper()
		out, err := exec.Command("tshark", "-r", file, "-o", users, "-Y", filter, "-T", "fields", "-e", "frame.number", "-e", "snmp.name").Output()
		if err != nil {
			t.Fatalf("tshark -Y %s: %v", filter, err)
		}
		s := strings.TrimSpace(string(out))
		if s == "" {
			return 0, s
		}
		return strings.Count(s, "\n") + 1, s
	}
	authed, _ := count("snmp.v3.flags.auth == 1")
	ok, _ := count("snmp.authentication_ok")
	bad, badOut := count("_ws.malformed or _ws.expert.severity >= error or snmp.authentication_error or snmp.verify_authentication_error or snmp.decrypted_data_bad_formatted")
	_, sys := count("udp.srcport == 161 and snmp.name")
	t.Logf("%d packets authenticated, %d verified by tshark; responses with names:\n%s", authed, ok, sys)
	if authed < 2 || ok != authed || bad != 0 {
		t.Errorf("tshark: %d authenticated, %d digests OK, %d with errors:\n%s", authed, ok, bad, badOut)
	}
	if !strings.Contains(sys, "1.3.6.1.2.1.1.7.0") {
		t.Errorf("tshark did not decrypt the responses:\n%s", sys)
	}
}
