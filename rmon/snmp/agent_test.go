package snmp

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/rmon/mib"
)

// testTree has a settable string, a read-only integer, a Counter64 and a
// small table.
func testTree() (*mib.Tree, func() string) {
	t := &mib.Tree{}
	var mu sync.Mutex
	contact := "nobody"
	get := func() string { mu.Lock(); defer mu.Unlock(); return contact }
	t.Register(mib.MustOID("1.3.6.1.2.1.1"), mib.Scalars{
		1: {Get: func() mib.Value { return mib.String("test agent") }},
		4: {Get: func() mib.Value { return mib.String(get()) }, Set: func(tx *mib.Txn, v mib.Value) gosnmp.SNMPError {
			if v.Type != gosnmp.OctetString {
				return mib.WrongType
			}
			if len(v.Bytes) > 255 {
				return mib.WrongLength
			}
			s := string(v.Bytes)
			tx.OnCommit(func() { mu.Lock(); contact = s; mu.Unlock() })
			return mib.NoError
		}},
		7: {Get: func() mib.Value { return mib.Integer(72) }},
	})
	idx := []mib.OID{{1}, {2}, {3}}
	t.Register(mib.MustOID("1.3.6.1.2.1.31.1.1.1"), &mib.Table{
		Cols:  []uint32{1, 6},
		Index: func() []mib.OID { return idx },
		Cell: func(i mib.OID, c uint32) (mib.Value, bool) {
			if c == 1 {
				return mib.String("if" + string(rune('0'+i[0]))), true
			}
			return mib.Counter64(1<<40 + uint64(i[0])), true
		},
	})
	return t, get
}

var testUsers = []User{
	{Name: "sha256aes", Auth: gosnmp.SHA256, AuthPass: "authpass256", Priv: gosnmp.AES, PrivPass: "privpass256",
		Read: []mib.OID{{1}}, Write: []mib.OID{{1}}},
	{Name: "sha512", Auth: gosnmp.SHA512, AuthPass: "authpass512", Read: []mib.OID{{1}}},
	{Name: "sha1aes256", Auth: gosnmp.SHA, AuthPass: "authpass1xx", Priv: gosnmp.AES256, PrivPass: "privpass1xx", Read: []mib.OID{{1}}},
	{Name: "sha224aes192", Auth: gosnmp.SHA224, AuthPass: "authpass224", Priv: gosnmp.AES192, PrivPass: "privpass224", Read: []mib.OID{{1}}},
	{Name: "sha256", Auth: gosnmp.SHA256, AuthPass: "authpass256", Read: []mib.OID{{1}}, Write: []mib.OID{{1}}},
	{Name: "sha384", Auth: gosnmp.SHA384, AuthPass: "authpass384", Read: []mib.OID{{1}}},
}

// startAgent serves a test agent on 127.0.0.1 and returns its address.
func startAgent(t *testing.T, cfg Config, tree *mib.Tree) (*Agent, string) {
	t.Helper()
	if cfg.EngineID == nil {
		cfg.EngineID = []byte{0x80, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8}
	}
	if cfg.Boots == 0 {
		cfg.Boots = 3
	}
	a, err := NewAgent(cfg, tree)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // after the agent stops (cleanups run last first)
	testutil.Go(t, func(ctx context.Context) error { return a.Serve(ctx, conn) })
	return a, conn.LocalAddr().String()
}

func snmpTool(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s not installed (Debian package snmp, scripts/deps.sh test): %v", tool, err)
	}
	out, err := exec.Command(tool, append([]string{"-On", "-r", "0", "-t", "2"}, args...)...).CombinedOutput()
	return string(out), err
}

func mustTool(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := snmpTool(t, tool, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return out
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestV2cNetSNMP(t *testing.T) {
	tree, contact := testTree()
	_, addr := startAgent(t, Config{Communities: []Community{
		{Name: "ro", Read: []mib.OID{{1}}},
		{Name: "rw", Read: []mib.OID{{1}}, Write: []mib.OID{mib.MustOID("1.3.6.1.2.1.1")}},
		{Name: "elsewhere", Read: []mib.OID{{1}}, Sources: []netip.Prefix{netip.MustParsePrefix("10.9.9.0/24")}},
	}}, tree)
	out := mustTool(t, "snmpget", "-v2c", "-c", "ro", addr, "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.31.1.1.1.6.2")
	wantLines(t, out, `.1.3.6.1.2.1.1.1.0 = STRING: "test agent"`, ".1.3.6.1.2.1.1.2.0 = No Such Object",
		".1.3.6.1.2.1.31.1.1.1.6.2 = Counter64: 1099511627778")
	out = mustTool(t, "snmpwalk", "-v2c", "-c", "ro", addr, "1.3.6.1.2.1.31")
	wantLines(t, out, `.1.3.6.1.2.1.31.1.1.1.1.1 = STRING: "if1"`, `.1.3.6.1.2.1.31.1.1.1.1.3 = STRING: "if3"`,
		".1.3.6.1.2.1.31.1.1.1.6.3 = Counter64: 1099511627779")
	if n := strings.Count(out, "\n"); n != 6 {
		t.Errorf("walk returned %d lines:\n%s", n, out)
	}
	bulk := mustTool(t, "snmpbulkwalk", "-v2c", "-c", "ro", "-Cr7", addr, "1.3.6.1.2.1.31")
	if bulk != out {
		t.Errorf("bulkwalk differs from walk:\n%s\n%s", bulk, out)
	}
	// SET: read-only community refused, read-write accepted, wrong type refused.
	out, err := snmpTool(t, "snmpset", "-v2c", "-c", "ro", addr, "1.3.6.1.2.1.1.4.0", "s", "me")
	if err == nil || !strings.Contains(out, "noAccess") {
		t.Errorf("ro set: %v %s", err, out)
	}
	mustTool(t, "snmpset", "-v2c", "-c", "rw", addr, "1.3.6.1.2.1.1.4.0", "s", "ops@example.net")
	if contact() != "ops@example.net" {
		t.Errorf("contact %q", contact())
	}
	// All or nothing: the second varbind fails, the first must not apply.
	out, err = snmpTool(t, "snmpset", "-v2c", "-c", "rw", addr, "1.3.6.1.2.1.1.4.0", "s", "other", "1.3.6.1.2.1.1.7.0", "i", "1")
	if err == nil || !strings.Contains(out, "notWritable") || !strings.Contains(out, "1.3.6.1.2.1.1.7.0") {
		t.Errorf("partial set: %v %s", err, out)
	}
	out, err = snmpTool(t, "snmpset", "-v2c", "-c", "rw", addr, "1.3.6.1.2.1.1.4.0", "i", "5")
	if err == nil || !strings.Contains(out, "wrongType") {
		t.Errorf("wrong type: %v %s", err, out)
	}
	if contact() != "ops@example.net" {
		t.Errorf("contact %q after failed sets", contact())
	}
	// Unknown community and disallowed source: no answer.
	for _, c := range []string{"public", "elsewhere"} {
		out, err = snmpTool(t, "snmpget", "-v2c", "-c", c, addr, "1.3.6.1.2.1.1.1.0")
		if err == nil || !strings.Contains(out, "Timeout") {
			t.Errorf("community %s: %v %s", c, err, out)
		}
	}
	out = mustTool(t, "snmpget", "-v2c", "-c", "ro", addr, "1.3.6.1.2.1.11.4.0")
	wantLines(t, out, ".1.3.6.1.2.1.11.4.0 = Counter32: 2")
}

func TestV1NetSNMP(t *testing.T) {
	tree, _ := testTree()
	_, addr := startAgent(t, Config{Communities: []Community{{Name: "v1c", Read: []mib.OID{{1}}, Write: []mib.OID{{1}}}}}, tree)
	// RFC 3584: a v1 walk skips Counter64 columns.
	out := mustTool(t, "snmpwalk", "-v1", "-c", "v1c", addr, "1.3.6.1.2.1.31")
	if strings.Contains(out, "Counter64") || !strings.Contains(out, `.1.3.6.1.2.1.31.1.1.1.1.3 = STRING: "if3"`) {
		t.Errorf("v1 walk:\n%s", out)
	}
	out, err := snmpTool(t, "snmpget", "-v1", "-c", "v1c", addr, "1.3.6.1.2.1.31.1.1.1.6.1")
	if err == nil || !strings.Contains(out, "noSuchName") {
		t.Errorf("v1 get of Counter64: %v %s", err, out)
	}
	out, err = snmpTool(t, "snmpget", "-v1", "-c", "v1c", addr, "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.99.0")
	if err == nil || !strings.Contains(out, "noSuchName") || !strings.Contains(out, "Failed object: .1.3.6.1.2.1.1.99.0") {
		t.Errorf("v1 get of missing object: %v %s", err, out)
	}
	out, err = snmpTool(t, "snmpset", "-v1", "-c", "v1c", addr, "1.3.6.1.2.1.1.4.0", "i", "3")
	if err == nil || !strings.Contains(out, "badValue") {
		t.Errorf("v1 set wrong type: %v %s", err, out)
	}
}

func v3args(u, level, authProto, authPass, privProto, privPass string) []string {
	a := []string{"-v3", "-u", u, "-l", level}
	if authProto != "" {
		a = append(a, "-a", authProto, "-A", authPass)
	}
	if privProto != "" {
		a = append(a, "-x", privProto, "-X", privPass)
	}
	return a
}

func TestV3NetSNMP(t *testing.T) {
	tree, contact := testTree()
	a, addr := startAgent(t, Config{Users: testUsers}, tree)
	for _, c := range []struct {
		args []string
	}{
		{v3args("sha256aes", "authPriv", "SHA-256", "authpass256", "AES", "privpass256")},
		{v3args("sha512", "authNoPriv", "SHA-512", "authpass512", "", "")},
		{v3args("sha1aes256", "authPriv", "SHA", "authpass1xx", "AES256", "privpass1xx")},
		{v3args("sha224aes192", "authPriv", "SHA-224", "authpass224", "AES192", "privpass224")},
		{v3args("sha384", "authNoPriv", "SHA-384", "authpass384", "", "")},
	} {
		out := mustTool(t, "snmpget", append(c.args, addr, "1.3.6.1.2.1.1.1.0")...)
		wantLines(t, out, `.1.3.6.1.2.1.1.1.0 = STRING: "test agent"`)
		out = mustTool(t, "snmpbulkwalk", append(c.args, addr, "1.3.6.1.2.1.31")...)
		wantLines(t, out, ".1.3.6.1.2.1.31.1.1.1.6.3 = Counter64: 1099511627779")
	}
	mustTool(t, "snmpset", append(v3args("sha256aes", "authPriv", "SHA-256", "authpass256", "AES", "privpass256"), addr, "1.3.6.1.2.1.1.4.0", "s", "v3 set")...)
	if contact() != "v3 set" {
		t.Errorf("contact %q", contact())
	}
	// A read-only user may not set.
	out, err := snmpTool(t, "snmpset", append(v3args("sha512", "authNoPriv", "SHA-512", "authpass512", "", ""), addr, "1.3.6.1.2.1.1.4.0", "s", "x")...)
	if err == nil || !strings.Contains(out, "noAccess") {
		t.Errorf("read-only user set: %v %s", err, out)
	}
	// Wrong authentication key: refused and counted.
	before := a.USMStat(usmWrongDigests)
	out, err = snmpTool(t, "snmpget", append(v3args("sha512", "authNoPriv", "SHA-512", "wrongpass512", "", ""), addr, "1.3.6.1.2.1.1.1.0")...)
	if err == nil || !strings.Contains(out, "Authentication failure") {
		t.Errorf("wrong key: %v %s", err, out)
	}
	if a.USMStat(usmWrongDigests) != before+1 {
		t.Errorf("usmStatsWrongDigests %d, was %d", a.USMStat(usmWrongDigests), before)
	}
	// Wrong privacy key: the digest is right, decryption yields garbage.
	out, err = snmpTool(t, "snmpget", append(v3args("sha256aes", "authPriv", "SHA-256", "authpass256", "AES", "wrongprivkey"), addr, "1.3.6.1.2.1.1.1.0")...)
	if err == nil || a.USMStat(usmDecryptionErrors) != 1 {
		t.Errorf("wrong priv key: %v %s; decryption errors %d", err, out, a.USMStat(usmDecryptionErrors))
	}
	out, err = snmpTool(t, "snmpget", append(v3args("nosuchuser", "authNoPriv", "SHA-512", "authpass512", "", ""), addr, "1.3.6.1.2.1.1.1.0")...)
	if err == nil || !strings.Contains(out, "Unknown user name") || a.USMStat(usmUnknownUserNames) != 1 {
		t.Errorf("unknown user: %v %s", err, out)
	}
	// authPriv for a user without privacy.
	out, err = snmpTool(t, "snmpget", append(v3args("sha512", "authPriv", "SHA-512", "authpass512", "AES", "whatever1"), addr, "1.3.6.1.2.1.1.1.0")...)
	if err == nil || a.USMStat(usmUnsupportedSecLevels) != 1 {
		t.Errorf("unsupported level: %v %s", err, out)
	}
	// The counters are served too.
	out = mustTool(t, "snmpwalk", append(v3args("sha512", "authNoPriv", "SHA-512", "authpass512", "", ""), addr, "1.3.6.1.6.3.15.1.1")...)
	wantLines(t, out, ".1.3.6.1.6.3.15.1.1.1.0 = Counter32: 1", ".1.3.6.1.6.3.15.1.1.3.0 = Counter32: 1", ".1.3.6.1.6.3.15.1.1.6.0 = Counter32: 1")
}
