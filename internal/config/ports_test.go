package config

import (
	"reflect"
	"testing"
)

const portsDoc = `pool:
  frames: 32768
ports:
  - name: eth1
    mode: passive
    netns: lab
  - name: eth2
    mode: bypass
    queues: 2
    forward: eth3
  - name: eth3
    mode: bypass
`

func TestPorts(t *testing.T) {
	c, err := Parse([]byte(portsDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := []PortConfig{
		{Name: "eth1", Mode: "passive", Queues: 1, Netns: "lab", RingBlocks: 64, BlockSize: 1 << 20},
		{Name: "eth2", Mode: "bypass", Queues: 2, Forward: "eth3", RingFrames: 2048},
		{Name: "eth3", Mode: "bypass", Queues: 1, RingFrames: 2048},
	}
	if !reflect.DeepEqual(c.Ports, want) {
		t.Fatalf("ports = %+v\nwant %+v", c.Ports, want)
	}
	if c.Pool.Frames != 32768 || c.Pool.FrameSize != 2048 {
		t.Fatalf("pool %+v", c.Pool)
	}
	if c.Ports[0].NetnsPath() != "/run/netns/lab" || c.Ports[1].NetnsPath() != "" {
		t.Fatal("netns path")
	}
	if (PortConfig{Netns: "/proc/1/ns/net"}).NetnsPath() != "/proc/1/ns/net" {
		t.Fatal("absolute netns path")
	}
	// No ports by default: the default config attaches to nothing.
	if len(Default().Ports) != 0 {
		t.Fatal("default config has ports")
	}
}

func TestPortErrors(t *testing.T) {
	checkErrors(t, []errorCase{
		{"bad mode", "ports:\n  - name: eth1\n    mode: sniff\n", 3, `ports[0].mode: must be passive or bypass, not "sniff"`},
		{"no mode", "ports:\n  - name: eth1\n", 2, "needs a mode"},
		{"no name", "ports:\n  - mode: passive\n", 2, "needs a name"},
		{"unknown key", "ports:\n  - name: eth1\n    mode: passive\n    speed: 10G\n", 4, "ports[0].speed: unknown key"},
		{"duplicate", "ports:\n  - name: eth1\n    mode: passive\n  - name: eth1\n    mode: bypass\n", 4, "ports[1].name: port \"eth1\" is already configured"},
		{"long name", "ports:\n  - name: averyveryverylongname\n    mode: passive\n", 2, "not a network interface name"},
		{"queues", "ports:\n  - name: eth1\n    mode: passive\n    queues: 100\n", 4, "ports[0].queues: must be from 1 to 64"},
		{"queues type", "ports:\n  - name: eth1\n    mode: passive\n    queues: many\n", 4, "ports[0].queues: cannot unmarshal string"},
		{"passive forward", "ports:\n  - name: eth1\n    mode: passive\n    forward: eth2\n", 4, "only bypass ports forward"},
		{"forward unknown", "ports:\n  - name: eth1\n    mode: bypass\n    forward: eth9\n", 4, `no port named "eth9"`},
		{"forward self", "ports:\n  - name: eth1\n    mode: bypass\n    forward: eth1\n", 4, "cannot forward to itself"},
		{"forward to passive", "ports:\n  - name: eth1\n    mode: bypass\n    forward: eth2\n  - name: eth2\n    mode: passive\n", 4, "is passive"},
		{"ring frames", "ports:\n  - name: eth1\n    mode: bypass\n    ring_frames: 1000\n", 4, "ports[0].ring_frames: must be a power of two"},
		{"block size", "ports:\n  - name: eth1\n    mode: passive\n    block_size: 5000\n", 4, "ports[0].block_size: must be a power of two"},
		{"ring frames on passive", "ports:\n  - name: eth1\n    mode: passive\n    ring_frames: 1024\n", 4, "is for bypass ports"},
		{"frame size", "pool:\n  frame_size: 1500\n", 2, "pool.frame_size: must be 2048 or 4096"},
		{"pool too small", "pool:\n  frames: 4096\nports:\n  - name: eth1\n    mode: bypass\n    queues: 2\n", 2, "cannot back the bypass ports' rings"},
		{"netns", "ports:\n  - name: eth1\n    mode: passive\n    netns: a/b\n", 4, "want a namespace name or an absolute path"},
	})
}
