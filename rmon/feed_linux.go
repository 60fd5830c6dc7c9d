package rmon

import (
	"github.com/vishvananda/netlink"
)

// defaultGateway is the IPv4 default route's gateway in the daemon's
// namespace (0.0.0.0 if none).
func defaultGateway() ([4]byte, error) {
	var gw [4]byte
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return gw, err
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw != nil {
			if v4 := r.Gw.To4(); v4 != nil {
				copy(gw[:], v4)
				return gw, nil
			}
		}
	}
	return gw, nil
}
