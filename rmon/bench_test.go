package rmon

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// BenchmarkIFWalk walks IF-MIB's ifTable and ifXTable of 129 ports
// through the tree, as a bulk walk does (no network, no codec).
func BenchmarkIFWalk(b *testing.B) {
	_, p := testAgent(b, Config{Communities: []CommunityConfig{{Name: "bench"}}})
	var specs []portSpec
	for i := range 129 {
		v := &drmon.View{Name: fmt.Sprint("p", i), St: stats.NewPort(16, 16)}
		specs = append(specs, portSpec{key: v.Name, core: corePort{view: v}, st: v.St})
	}
	p.setPorts(specs)
	walkIF(b, p.tree)
}

func walkIF(b *testing.B, tree *mib.Tree) {
	start, ends := []mib.OID{ifEntry, ifXEntry}, []mib.OID{ifEntry, ifXEntry}
	n := 0
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &r0)
	for b.Loop() {
		for i, o := range start {
			for {
				next, _, ok := tree.Next(o)
				if !ok || !next.HasPrefix(ends[i]) {
					break
				}
				o = next
				n++
			}
		}
	}
	syscall.Getrusage(syscall.RUSAGE_THREAD, &r1)
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "varbinds/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/varbind")
}
