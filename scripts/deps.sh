#!/usr/bin/env bash
# Installs what a fresh Debian machine with Go lacks for a make target.
# Usage: scripts/deps.sh run|test|image|bench
# Only missing packages are installed, so a prepared machine pays nothing.
set -euo pipefail

need=(curl iproute2 ca-certificates)
case "${1:-test}" in
  run)   need+=(qemu-system-x86 grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools zstd) ;;
  test)  need+=(
    gcc
    libc6-dev
    tmux
    tcpdump
    tshark
    netsniff-ng
    tcpreplay
    ethtool
    zstd
    iperf3
    iputils-ping
    snmp
    python3
    arping
    qemu-system-x86
    ovmf
    grub-common
    grub-pc-bin
    grub-efi-amd64-bin
    xorriso
    mtools
    e2fsprogs
    kmod
  ) ;;
  image) need+=(grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools zstd) ;;
  bench) need+=(tcpdump tshark netsniff-ng tcpreplay ethtool snmp snmpd xdp-tools gcc libc6-dev iperf3 socat iputils-ping keepalived conntrackd nftables conntrack) ;;
  *) echo "deps.sh: unknown target $1" >&2; exit 2 ;;
esac
# Extra packages named by other make targets (one word each).
need+=(${WIREBOX_EXTRA_DEPS:-})

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  # wireshark-common asks whether non-root users may capture; answer no.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "deps: Go is required (https://go.dev/dl); /usr/local/go/bin must be on PATH" >&2; exit 1; }
