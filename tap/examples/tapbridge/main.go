// Command tapbridge is a two-port bridge outside the daemon: a bypass tap
// on each port, and every frame received on one is reverted on the
// other's tap, so it leaves through that port. No frame is copied: the
// rings carry frame ids of the shared pool.
//
//	tapbridge -socket /run/wirebox/tap.sock -a wb0 -b wb1
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wirebox/wirebox/tap"
	"github.com/wirebox/wirebox/tap/tapclient"
)

func main() {
	socket := flag.String("socket", tapclient.DefaultSocket, "the daemon's tap socket")
	pa := flag.String("a", "", "first port")
	pb := flag.String("b", "", "second port")
	flag.Parse()
	if *pa == "" || *pb == "" {
		fmt.Fprintln(os.Stderr, "usage: tapbridge -a PORT -b PORT [-socket PATH]")
		os.Exit(2)
	}
	if err := run(*socket, *pa, *pb); err != nil {
		fmt.Fprintln(os.Stderr, "tapbridge:", err)
		os.Exit(1)
	}
}

func run(socket, pa, pb string) error {
	app, err := tapclient.Dial(socket, tapclient.Options{Name: "tapbridge"})
	if err != nil {
		return err
	}
	defer app.Close()
	ha, err := app.Tap(pa, tapclient.Bypass, 0)
	if err != nil {
		return err
	}
	hb, err := app.Tap(pb, tapclient.Bypass, 0)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Printf("bridging %s and %s\n", pa, pb)
	var fwd [2]uint64
	ds := make([]tap.RingDesc, 256)
	for {
		select {
		case <-sig:
			fmt.Printf("forwarded %s->%s %d %s->%s %d\n", pa, pb, fwd[0], pb, pa, fwd[1])
			return nil
		default:
		}
		n, err := app.Receive(ds, 100*time.Millisecond)
		if errors.Is(err, tapclient.ErrTimeout) {
			continue
		}
		if err != nil {
			return err
		}
		for i := range ds[:n] {
			if ds[i].Tap == ha {
				ds[i].Tap = hb
				fwd[0]++
			} else {
				ds[i].Tap = ha
				fwd[1]++
			}
		}
		for done := 0; done < n; {
			k, err := app.Revert(ds[done:n])
			if err != nil {
				return err
			}
			done += k
		}
	}
}
