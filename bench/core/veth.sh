# bench/core/veth.sh: the topology bench/core.sh and bench/core/profile.sh
# share; sourced, not run.

# veth_setup GEN CAP: namespaces GEN and CAP joined by a veth pair, g0 in
# GEN and c0 in CAP (IPv6 off, GRO on and a pfifo qdisc, so the veth
# pushes back on the sender instead of dropping); sets MAC to c0's address.
veth_setup() {
  local gen=$1 cap=$2 ns
  ip netns add "$gen"
  ip netns add "$cap"
  for ns in "$gen" "$cap"; do
    # IPv6 off before the links exist, so nothing but the test frames flows.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  ip -n "$gen" link add g0 type veth peer name c0 netns "$cap"
  ip -n "$gen" link set g0 up
  ip -n "$cap" link set c0 up
  ip netns exec "$gen" ethtool -K g0 gro on >/dev/null
  ip netns exec "$cap" ethtool -K c0 gro on >/dev/null
  ip netns exec "$gen" tc qdisc replace dev g0 root pfifo limit 10000
  ip netns exec "$cap" tc qdisc replace dev c0 root pfifo limit 10000
  MAC=$(ip netns exec "$cap" cat /sys/class/net/c0/address)
}

# trafgen_packet SIZE: trafgen's description of a SIZE-byte frame to MAC,
# EtherType 0x88b5 (local experimental: nothing answers).
trafgen_packet() {
  local mac
  mac=$(echo "$MAC" | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g; s/:/ /g')
  echo "{ $mac 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, c16(0x88b5), fill(0x00, $(($1 - 14))) }"
}
