// Command tapcount counts the frames of one tap (input or output) and
// reverts every one, so the port behaves as if untapped. With -hold it
// keeps the first N frames instead (to show reclaim when it is killed);
// with -mark it writes a marker at the end of each frame's data before
// reverting it (to show the frame leaves from the same pool memory).
//
//	tapcount -socket /run/wirebox/tap.sock -port wb0 -kind input
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
	port := flag.String("port", "", "port to tap")
	kind := flag.String("kind", "input", "input or output")
	order := flag.Int("order", 0, "place among the port's owners")
	hold := flag.Int("hold", 0, "keep this many frames instead of reverting them")
	mark := flag.String("mark", "", "write this marker over the last bytes of each frame")
	flag.Parse()
	k := map[string]uint8{"input": tapclient.Input, "output": tapclient.Output}[*kind]
	if *port == "" || k == 0 {
		fmt.Fprintln(os.Stderr, "usage: tapcount -port PORT [-kind input|output] [-hold N] [-mark TEXT]")
		os.Exit(2)
	}
	if err := run(*socket, *port, k, int32(*order), *hold, []byte(*mark)); err != nil {
		fmt.Fprintln(os.Stderr, "tapcount:", err)
		os.Exit(1)
	}
}

func run(socket, port string, kind uint8, order int32, hold int, mark []byte) error {
	app, err := tapclient.Dial(socket, tapclient.Options{Name: "tapcount"})
	if err != nil {
		return err
	}
	defer app.Close()
	if _, err := app.Tap(port, kind, order); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	fmt.Println("tapping", port)
	var count, held uint64
	last := time.Now()
	ds := make([]tap.RingDesc, 256)
	for {
		select {
		case <-sig:
			fmt.Printf("frames %d held %d\n", count, held)
			return nil
		default:
		}
		n, err := app.Receive(ds, 100*time.Millisecond)
		if err != nil && !errors.Is(err, tapclient.ErrTimeout) {
			return err
		}
		count += uint64(n)
		out := ds[:0]
		for _, d := range ds[:n] {
			if held < uint64(hold) {
				held++ // kept until the process ends
				continue
			}
			if len(mark) > 0 && int(d.Len) >= len(mark)+14 {
				copy(app.Data(d)[int(d.Len)-len(mark):], mark)
			}
			out = append(out, d)
		}
		for done := 0; done < len(out); {
			k, err := app.Revert(out[done:])
			if err != nil {
				return err
			}
			done += k
		}
		if time.Since(last) > 200*time.Millisecond {
			fmt.Printf("frames %d held %d\n", count, held)
			last = time.Now()
		}
	}
}
