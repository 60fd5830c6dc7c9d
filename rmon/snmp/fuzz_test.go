package snmp

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/wirebox/wirebox/rmon/mib"
)

var fuzzEngineID = []byte{0x80, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8}

// TestWriteFuzzCorpus records real requests of the net-snmp tools into
// testdata/fuzz/FuzzHandle (run with WIREBOX_WRITE_CORPUS=1 to refresh).
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("WIREBOX_WRITE_CORPUS") == "" {
		t.Skip("set WIREBOX_WRITE_CORPUS=1 to record the corpus")
	}
	tree, _ := testTree()
	_, addr := startAgent(t, Config{EngineID: fuzzEngineID, Users: testUsers,
		Communities: []Community{{Name: "public", Read: []mib.OID{{1}}, Write: []mib.OID{{1}}}}}, tree)
	p, paddr := newProxy(t, addr)
	for _, args := range [][]string{
		{"snmpget", "-v1", "-c", "public", paddr, "1.3.6.1.2.1.1.1.0"},
		{"snmpwalk", "-v2c", "-c", "public", paddr, "1.3.6.1.2.1.31"},
		{"snmpbulkwalk", "-v2c", "-c", "public", "-Cn1", "-Cr5", paddr, "1.3.6.1.2.1.1.1", "1.3.6.1.2.1.31"},
		{"snmpset", "-v2c", "-c", "public", paddr, "1.3.6.1.2.1.1.4.0", "s", "x", "1.3.6.1.2.1.1.7.0", "i", "3"},
		append([]string{"snmpget"}, append(v3args("sha256aes", "authPriv", "SHA-256", "authpass256", "AES", "privpass256"), paddr, "1.3.6.1.2.1.1.1.0")...),
		append([]string{"snmpbulkwalk"}, append(v3args("sha512", "authNoPriv", "SHA-512", "authpass512", "", ""), "-Cr3", paddr, "1.3.6.1.2.1.31")...),
	} {
		snmpTool(t, args[0], args[1:]...)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	os.MkdirAll(dir, 0o755)
	for i, r := range p.requests() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", r)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("netsnmp-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzHandle feeds arbitrary messages to the decoder and dispatcher: no
// panic, and every answer must itself decode.
func FuzzHandle(f *testing.F) {
	f.Add(rawV2c("public", &PDU{Type: 0xa5, RequestID: -1, ErrorStatus: 300, ErrorIndex: -5,
		VarBinds: []VarBind{{mib.MustOID("1.3.6.1.2.1.1"), mib.Null}}}))
	tree, _ := testTree()
	a, err := NewAgent(Config{EngineID: fuzzEngineID, Boots: 1, Users: testUsers,
		Communities: []Community{{Name: "public", Read: []mib.OID{{1}}, Write: []mib.OID{{1}}}}}, tree)
	if err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, b []byte) {
		resp := a.Handle(b, src)
		if resp == nil {
			return
		}
		if _, err := decodeMessage(resp); err != nil {
			t.Fatalf("response does not decode: %v\n%x", err, resp)
		}
	})
}
