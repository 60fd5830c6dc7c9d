package hatraffic

import (
	"net/netip"

	"github.com/wirebox/wirebox/ha/fwd"
)

// The addresses of the topology the HA tests and bench/ha build: the
// client and the service address (VIP) on 10.0.1.0/24, the two backends
// on 10.0.2.0/24 behind the pair, which answers as their Gateway.
const (
	VIP      = "10.0.1.100"
	Gateway  = "10.0.2.1"
	ClientIP = "10.0.1.5"
	Server1  = "10.0.2.11"
	Server2  = "10.0.2.12"
)

// Service is that topology's forwarded service: TCP (and with udp also
// UDP) to VIP port 80, round robin over Server1:8080 and Server2:8081.
func Service(udp bool) fwd.Service {
	return fwd.Service{VIP: netip.MustParseAddr(VIP), Port: 80, TCP: true, UDP: udp, Balance: fwd.RoundRobin,
		Backends: []netip.AddrPort{netip.MustParseAddrPort(Server1 + ":8080"), netip.MustParseAddrPort(Server2 + ":8081")}}
}
