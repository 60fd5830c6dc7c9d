package capture

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The injector hands frames to a passive port's kernel receive path, so
// the host stack gets them as if they had arrived on the port (and the
// port's AF_PACKET rings see them as RX, stamped once by the kernel).
//
// It is a veth device "wbinj<port ifindex>" in the port's namespace (its
// peer "wbinp<port ifindex>" stays down and unused; veth rather than dummy
// because kernels built without the dummy driver exist, and veth is what
// ports are tested on anyway) with a tc program on its egress that redirects every frame it sends into the
// port's ingress (bpf_redirect with BPF_F_INGRESS). The core writes frames
// to the dummy through an AF_PACKET socket of its own, marked with
// injectMark: the program redirects only frames carrying that mark (and
// clears it, so the host's mark-based policy never sees it) and drops the
// rest, so nothing the host itself sends on the injector (IPv6 autoconfig,
// say) reaches the port.
//
// The program attaches through tcx (a link that goes away with the
// process, Linux 6.6 and later); on older kernels such as Debian 12's 6.1
// it falls back to a clsact qdisc with a direct-action BPF filter, which
// lives as long as the device does.
type injector struct {
	port    *Port
	name    string // the dummy's name
	ifindex int    // the device's
	fd      int    // AF_PACKET socket bound to the device
	prog    *ebpf.Program
	lnk     link.Link // nil when attached through clsact
}

// injectMark tags the core's frames on the injector ("wbj1").
const injectMark = 0x77626a31

func injectorName(portIfindex int) string { return "wbinj" + strconv.Itoa(portIfindex) }

// injectProgram redirects frames marked injectMark to the port's ingress.
func injectProgram(portIfindex int) (*ebpf.Program, error) {
	const markOff = 8 // offsetof(struct __sk_buff, mark)
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "wb_inject",
		Type:    ebpf.SchedCLS,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, markOff, asm.Word),
			asm.JNE.Imm(asm.R2, injectMark, "drop"),
			asm.Mov.Imm(asm.R2, 0),
			asm.StoreMem(asm.R1, markOff, asm.R2, asm.Word),
			asm.Mov.Imm(asm.R1, int32(portIfindex)),
			asm.Mov.Imm(asm.R2, 1), // BPF_F_INGRESS
			asm.FnRedirect.Call(),  // returns TC_ACT_REDIRECT
			asm.Return(),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("drop"), // TC_ACT_SHOT
			asm.Return(),
		},
	})
}

// openInjector makes the port's injector. forceClsact skips tcx (tests
// use it to cover the fallback on kernels that have tcx).
func openInjector(p *Port, forceClsact bool) (*injector, error) {
	inj := &injector{port: p, fd: -1}
	err := inNetNS(p.cfg.NetNS, func() error {
		portIdx, err := ifaceIndex(p.cfg.Name)
		if err != nil {
			return err
		}
		inj.name = injectorName(portIdx)
		// An injector left by a process that died keeps its clsact filter
		// pointing at a port that may have been recreated: start afresh.
		if old, err := netlink.LinkByName(inj.name); err == nil {
			if err := netlink.LinkDel(old); err != nil {
				return fmt.Errorf("delete stale %s: %w", inj.name, err)
			}
		}
		// No MTU limit of its own: frames up to the pool's size pass, the
		// port's MTU is not checked on the way into its receive path.
		d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: inj.name, MTU: 65535}, PeerName: "wbinp" + strconv.Itoa(portIdx), PeerMTU: 65535}
		if err := netlink.LinkAdd(d); err != nil {
			return fmt.Errorf("add %s: %w", inj.name, err)
		}
		l, err := netlink.LinkByName(inj.name)
		if err != nil {
			return fmt.Errorf("find %s: %w", inj.name, err)
		}
		inj.ifindex = l.Attrs().Index
		if inj.prog, err = injectProgram(portIdx); err != nil {
			return fmt.Errorf("load inject program: %w", err)
		}
		if err := inj.attach(forceClsact); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", inj.name, err)
		}
		// Protocol 0: the socket only sends.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("inject socket: %w", err)
		}
		inj.fd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, injectMark); err != nil {
			return fmt.Errorf("SO_MARK: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: inj.ifindex})
	})
	if err != nil {
		inj.close()
		return nil, fmt.Errorf("capture: injector for %s: %w", p.cfg.Name, err)
	}
	return inj, nil
}

// attach puts the program on the device's egress: tcx, else clsact. Runs
// in the port's namespace (tcx resolves the ifindex there).
func (inj *injector) attach(forceClsact bool) error {
	var tcxErr error
	if !forceClsact {
		l, err := link.AttachTCX(link.TCXOptions{Interface: inj.ifindex, Program: inj.prog, Attach: ebpf.AttachTCXEgress})
		if err == nil {
			inj.lnk = l
			return nil
		}
		tcxErr = err
	}
	q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: inj.ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	if err := netlink.QdiscAdd(q); err != nil {
		return errors.Join(tcxErr, fmt.Errorf("clsact on %s: %w", inj.name, err))
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: inj.ifindex, Parent: netlink.HANDLE_MIN_EGRESS,
			Handle: netlink.MakeHandle(0, 1), Protocol: unix.ETH_P_ALL, Priority: 1,
		},
		Fd: inj.prog.FD(), Name: "wb_inject", DirectAction: true,
	}
	if err := netlink.FilterAdd(f); err != nil {
		return errors.Join(tcxErr, fmt.Errorf("bpf filter on %s: %w", inj.name, err))
	}
	return nil
}

// send hands one frame to the port's receive path.
func (inj *injector) send(b []byte) error {
	for {
		_, err := unix.Write(inj.fd, b)
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

func (inj *injector) close() error {
	var errs []error
	if inj.fd >= 0 {
		unix.Close(inj.fd)
		inj.fd = -1
	}
	if inj.lnk != nil {
		errs = append(errs, inj.lnk.Close())
		inj.lnk = nil
	}
	if inj.ifindex != 0 {
		errs = append(errs, inNetNS(inj.port.cfg.NetNS, func() error {
			l, err := netlink.LinkByIndex(inj.ifindex)
			if err != nil {
				return nil // gone with its namespace
			}
			if l.Attrs().Name != inj.name {
				return nil
			}
			if err := netlink.LinkDel(l); err != nil {
				return fmt.Errorf("delete %s: %w", inj.name, err)
			}
			return nil
		}))
		inj.ifindex = 0
	}
	if inj.prog != nil {
		inj.prog.Close()
		inj.prog = nil
	}
	return errors.Join(errs...)
}
