package rmon

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/nsrun"
)

// readNIC asks the kernel for interface ifname's RMON and MAC stats groups
// (ETHTOOL_MSG_STATS_GET, as `ethtool -S IF --groups rmon eth-mac`), in
// the namespace at nsPath.
func readNIC(nsPath, ifname string) (nicErrors, bool, error) {
	b, err := nicStatsReply(nsPath, ifname)
	if err != nil {
		return nicErrors{}, false, err
	}
	return parseNICStats(b)
}

// nicStatsReply is the kernel's ETHTOOL_MSG_STATS_GET reply for ifname,
// from its genetlink header on.
func nicStatsReply(nsPath, ifname string) ([]byte, error) {
	var msgs [][]byte
	err := nsrun.Run(nsPath, func() error {
		fam, err := netlink.GenlFamilyGet("ethtool")
		if err != nil {
			return fmt.Errorf("ethtool genetlink family: %w", err)
		}
		req := nl.NewNetlinkRequest(int(fam.ID), unix.NLM_F_REQUEST)
		req.AddData(&nl.Genlmsg{Command: ethtoolMsgStatsGet, Version: 1})
		hdr := nl.NewRtAttr(ethtoolAStatsHeader|unix.NLA_F_NESTED, nil)
		hdr.AddRtAttr(ethtoolAHeaderDevName, nl.ZeroTerminated(ifname))
		req.AddData(hdr)
		groups := nl.NewRtAttr(ethtoolAStatsGroups|unix.NLA_F_NESTED, nil)
		groups.AddRtAttr(ethtoolABitsetNomask, nil)
		groups.AddRtAttr(ethtoolABitsetSize, nl.Uint32Attr(ethtoolStatsCount))
		groups.AddRtAttr(ethtoolABitsetValue, nl.Uint32Attr(1<<ethtoolStatsEthMAC|1<<ethtoolStatsRMON))
		req.AddData(groups)
		msgs, err = req.Execute(unix.NETLINK_GENERIC, uint16(fam.ID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rmon: ethtool stats of %s: %w", ifname, err)
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("rmon: ethtool stats of %s: no reply", ifname)
	}
	return msgs[0], nil
}
