package boot

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	got := ParseCmdline(`console=ttyS0,115200 quiet wirebox.config="/data/my config.yaml" "wirebox.tty=120x40" ip=10.0.2.15::10.0.2.2:255.255.255.0:wb:eth0:off quiet=1`)
	want := Cmdline{
		"console":        "ttyS0,115200",
		"quiet":          "1",
		"wirebox.config": "/data/my config.yaml",
		"wirebox.tty":    "120x40",
		"ip":             "10.0.2.15::10.0.2.2:255.255.255.0:wb:eth0:off",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseCmdline = %#v\nwant %#v", got, want)
	}
}

func TestParseIP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want IPConfig
		bad  bool
	}{
		{in: "", want: IPConfig{}},
		{in: "off", want: IPConfig{}},
		{in: "dhcp", want: IPConfig{DHCP: true}},
		{in: "10.0.2.15::10.0.2.2:255.255.255.0:wirebox:eth0:off", want: IPConfig{
			Addr: netip.MustParsePrefix("10.0.2.15/24"), Gateway: netip.MustParseAddr("10.0.2.2"), Hostname: "wirebox", Device: "eth0"}},
		{in: "192.168.7.2:::255.255.255.252::eth1", want: IPConfig{Addr: netip.MustParsePrefix("192.168.7.2/30"), Device: "eth1"}},
		{in: "10.1.1.1", want: IPConfig{Addr: netip.MustParsePrefix("10.1.1.1/24")}},
		{in: "10.0.2.15::10.0.2.2:255.0.255.0::eth0:off", bad: true}, // non-contiguous mask
		{in: "300.0.2.15::::::", bad: true},
		{in: "fe80::1", bad: true},
		{in: "10.0.2.15::::::rarp", bad: true},
		{in: "10.0.2.15::::::dhcp", bad: true},
		{in: "a:b:c:d:e:f:g:h:i:j", bad: true},
	} {
		got, err := ParseIP(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrBadIP) {
				t.Errorf("ParseIP(%q) = %+v, %v; want ErrBadIP", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseIP(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseAddrs(t *testing.T) {
	got, err := ParseAddrs("eth1:169.254.77.1/24,eth2:fd00::1/64,52-54-00-10-0a-0b:169.254.88.2/24")
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x10, 0x0a, 0x0b}
	want := []Addr{{Device: "eth1", Prefix: netip.MustParsePrefix("169.254.77.1/24")}, {Device: "eth2", Prefix: netip.MustParsePrefix("fd00::1/64")},
		{Device: "52-54-00-10-0a-0b", MAC: mac, Prefix: netip.MustParsePrefix("169.254.88.2/24")}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAddrs = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"eth1", "eth1:169.254.77.1", ":10.0.0.1/24", "averyveryverylongname:10.0.0.1/24", "52-54-00-10-0a-zz:10.0.0.1/24", "eth1:10.0.0.1/24,"} {
		if _, err := ParseAddrs(bad); !errors.Is(err, ErrBadIP) {
			t.Errorf("ParseAddrs(%q) = %v, want ErrBadIP", bad, err)
		}
	}
}

// TestExt4Label reads the label from a file system made by the real
// mkfs.ext4.
func TestExt4Label(t *testing.T) {
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mkfs.ext4 missing: apt-get install -y e2fsprogs")
		}
		t.Skip("mkfs.ext4 missing")
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", DataLabel, img, "4M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		t.Fatal(err)
	}
	if l, err := Ext4Label(sb); err != nil || l != DataLabel {
		t.Errorf("Ext4Label = %q, %v; want %q", l, err, DataLabel)
	}
	if _, err := Ext4Label(make([]byte, 1024)); err == nil {
		t.Error("Ext4Label accepted a zeroed superblock")
	}
	if _, err := Ext4Label(sb[:100]); err == nil {
		t.Error("Ext4Label accepted a short superblock")
	}
}

func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"10.0.2.15::10.0.2.2:255.255.255.0:wirebox:eth0:off", "dhcp", "::::::", "1.2.3.4:::0.0.0.0", "1.2.3.4:::255.255.255.255::eth0:none"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseIP(s)
		if err != nil {
			return
		}
		if c.DHCP && c.Addr.IsValid() {
			t.Fatalf("ParseIP(%q) gave both DHCP and a static address", s)
		}
		if c.Addr.IsValid() && (!c.Addr.Addr().Is4() || c.Addr.Bits() < 0 || c.Addr.Bits() > 32) {
			t.Fatalf("ParseIP(%q) gave address %v", s, c.Addr)
		}
	})
}

func FuzzParseCmdline(f *testing.F) {
	f.Add(`a=1 b="x y" "c=d e" f`)
	f.Add(`"unterminated=x y`)
	f.Add("wirebox.ip=eth1:169.254.77.1/24,eth2:10.0.0.1/8")
	f.Fuzz(func(t *testing.T, s string) {
		c := ParseCmdline(s)
		for k := range c {
			if k == "" {
				t.Fatalf("empty parameter from %q", s)
			}
		}
		if v, ok := c["wirebox.ip"]; ok {
			_, _ = ParseAddrs(v)
		}
	})
}
