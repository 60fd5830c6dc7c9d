// Command corebench is the wirebox side of bench/core.sh: it opens one port
// of the capture core (passive AF_PACKET or bypass AF_XDP), subscribes one
// read-only consumer that takes and releases every frame (as a capture
// session would), and on SIGTERM or SIGINT prints its counters as JSON.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/tap"
)

type result struct {
	Consumed        uint64 `json:"consumed"`
	RxPackets       uint64 `json:"rx_packets"`
	RxDroppedKernel uint64 `json:"rx_dropped_kernel"`
	RxDroppedPool   uint64 `json:"rx_dropped_pool"`
	SubDropped      uint64 `json:"subscriber_dropped"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "corebench:", err)
		os.Exit(1)
	}
}

func run() error {
	iface := flag.String("i", "", "interface")
	netns := flag.String("netns", "", "network namespace path")
	mode := flag.String("mode", "passive", "passive or bypass")
	frames := flag.Int("frames", 65536, "pool frames")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	send := flag.Int("send", 0, "transmit this many frames through the port (batched Send) instead of receiving")
	size := flag.Int("size", 64, "frame size for -send")
	dst := flag.String("dst", "ff:ff:ff:ff:ff:ff", "destination MAC for -send")
	batch := flag.Int("batch", 256, "frames per Send for -send")
	txmode := flag.String("txmode", "ring", "passive transmit: ring (PACKET_TX_RING) or sendmmsg")
	busyPoll := flag.Int("busypoll", 0, "bypass: SO_BUSY_POLL microseconds (0: off)")
	budget := flag.Int("budget", 0, "bypass: SO_BUSY_POLL_BUDGET frames (0: kernel default)")
	pages := flag.String("pages", "auto", "pool pages: auto (huge pages when reserved), normal or huge")
	blockSize := flag.Int("block-size", 0, "passive: ring block bytes (0: the core's default); the ring stays 64 MiB")
	flag.Parse()
	stopProf, err := benchkit.CPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	defer stopProf()

	pm := map[string]tap.PageMode{"auto": tap.PagesAuto, "normal": tap.PagesNormal, "huge": tap.PagesHuge}
	pmode, ok := pm[*pages]
	if !ok {
		return fmt.Errorf("-pages %q: want auto, normal or huge", *pages)
	}
	pool, err := tap.NewPool(tap.Config{Frames: *frames, Pages: pmode})
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "pool:", pool.Pages())
	defer pool.Close()
	core := capture.NewCore(pool, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	cfg := capture.PortConfig{Name: *iface, NetNS: *netns, Mode: capture.Mode(*mode), TxSendmmsg: *txmode == "sendmmsg",
		BusyPoll: *busyPoll, BusyPollBudget: *budget}
	if cfg.Mode == capture.Bypass {
		cfg.RingFrames = 16384
	}
	if *blockSize > 0 {
		cfg.BlockSize, cfg.RingBlocks = *blockSize, 64<<20 / *blockSize
	}
	if *send > 0 {
		// A sender's port still captures what it sends (its TX
		// subscribers' view); 2 MiB of rx ring instead of 64 keeps the
		// ring's setup (the kernel zeroes every page) out of the
		// sender's CPU, which trafgen does not pay.
		cfg.RingBlocks = 2
	}
	port, err := core.OpenPort(cfg)
	if err != nil {
		return err
	}
	if *send > 0 {
		return sendFrames(core, port, *send, *size, *dst, *batch)
	}
	sub, err := port.Subscribe(capture.SubscribeOptions{Name: "bench", Queue: 32768})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Println("ready")
	var consumed uint64
	buf := make([]capture.Frame, 256)
	for {
		n, err := sub.Receive(ctx, buf)
		capture.ReleaseAll(buf[:n])
		consumed += uint64(n)
		if err != nil {
			break
		}
	}
	// Take what is still queued, then report.
	for n := sub.TryReceive(buf); n > 0; n = sub.TryReceive(buf) {
		for _, f := range buf[:n] {
			f.Release()
		}
		consumed += uint64(n)
	}
	st := port.Stats()
	r := result{Consumed: consumed, RxPackets: st.RxPackets, RxDroppedKernel: st.RxDroppedKernel, RxDroppedPool: st.RxDroppedPool}
	for _, s := range st.Subscribers {
		r.SubDropped += s.Dropped
	}
	if err := core.Close(); err != nil {
		return err
	}
	if err := pool.CheckFull(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// sendFrames transmits n frames of size bytes (EtherType 0x88b5) through
// the port in batches, as a consumer does, and prints the rate.
func sendFrames(core *capture.Core, port *capture.Port, n, size int, dst string, batch int) error {
	mac, err := net.ParseMAC(dst)
	if err != nil {
		return err
	}
	k := core.NewConsumer("bench sender")
	frames := make([]capture.Frame, batch)
	var sent, errs int
	start := time.Now()
	for sent+errs < n {
		want := min(batch, n-sent-errs)
		got := k.Alloc(frames[:want])
		if got == 0 {
			time.Sleep(10 * time.Microsecond) // the kernel still holds the last batch
			continue
		}
		for i, f := range frames[:got] {
			b := f.Buffer()[:size]
			copy(b, mac)
			copy(b[6:], []byte{0x02, 0, 0, 0, 0, 1})
			binary.BigEndian.PutUint16(b[12:], 0x88b5)
			binary.BigEndian.PutUint32(b[14:], uint32(sent+i))
			f.SetLen(size)
		}
		ok, err := port.Send(frames[:got])
		sent += ok
		if err != nil {
			errs += got - ok
		}
	}
	el := time.Since(start)
	st := port.Stats()
	k.Close()
	if err := core.Close(); err != nil {
		return err
	}
	fmt.Printf("{\"sent\":%d,\"errors\":%d,\"seconds\":%.3f,\"pps\":%.0f,\"kicks\":%d}\n", sent, errs, el.Seconds(), float64(sent)/el.Seconds(), st.TxKicks)
	return nil
}
