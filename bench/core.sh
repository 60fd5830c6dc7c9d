#!/usr/bin/env bash
# bench/core.sh: the capture core's receive path side by side with tcpdump
# and netsniff-ng, in one run, on the same veth pair.
#
# For each frame size (64 and 1514 bytes) and each consumer, a fresh pair of
# network namespaces is joined by a veth pair; the consumer reads one end,
# trafgen (one CPU, through the qdisc, so the veth pushes back instead of
# dropping) sends N frames into the other. Reported per run:
#   gen_pps       the generator's rate while the consumer runs: on this
#                 2-core machine a consumer that uses less CPU leaves more
#                 for the generator, so a higher number is better;
#   consumed      frames the consumer actually handed to its reader
#                 (tcpdump: "packets captured"; netsniff-ng: "packets passed
#                 filter"; wirebox: frames a read-only subscriber received);
#   loss          N - consumed;
#   cons_pps      consumed / generator run time;
#   gen_x, cons_x ratios to the tcpdump run of the same size;
#   cpu_s         CPU seconds (user+system) the consumer process used, mean
#                 of the rounds (softirq work lands on whoever runs, so this
#                 is indicative); tick-sampled (HZ=250 here);
#   run_s         the same from every thread's scheduler run time
#                 (/proc/PID/task/*/schedstat, nanoseconds): not biased
#                 against threads that wake often, as tick sampling is.
# wirebox runs the passive engine (AF_PACKET TPACKET_V3, one copy into the
# pool, one read-only subscriber that releases every frame) and, as an extra
# row, the bypass engine (AF_XDP copy mode on veth: the host stack no
# longer sees the frames, and XDP has no backpressure, so loss shows there),
# and wirebox-bypass-bp the same with busy polling (SO_BUSY_POLL 50 us,
# SO_PREFER_BUSY_POLL, SO_BUSY_POLL_BUDGET 64).
#
# Then, unless TX=0, the transmit side: trafgen against the core's batched
# Send (passive: PACKET_TX_RING, and sendmmsg as the row
# wirebox-passive-mmsg; bypass: AF_XDP TX ring) on the same veth.
#
# Usage: bench/core.sh            (N64=2000000 N1514=500000 ROUNDS=3 by default;
#        CONSUMERS="tcpdump wirebox" and SENDERS="trafgen wirebox-passive" pick rows,
#        SIZES="64" the frame sizes, RX=0 and TX=0 skip the receive or transmit table)
# Needs root, iproute2, ethtool, tcpdump, netsniff-ng (trafgen); Go to build.
set -euo pipefail
cd "$(dirname "$0")/.."
TIMEFORMAT='%3U %3S' # for the time keyword: user and system seconds

N64=${N64:-2000000}
N1514=${N1514:-500000}
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d)
GEN=wbb-gen-$$
CAP=wbb-cap-$$
CONS_PID=

cleanup() {
  [[ -n $CONS_PID ]] && kill "$CONS_PID" 2>/dev/null && wait "$CONS_PID" 2>/dev/null || true
  ip netns del "$GEN" 2>/dev/null || true
  ip netns del "$CAP" 2>/dev/null || true
  [[ -n ${KEEP:-} ]] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT

for tool in ip ethtool tc tcpdump netsniff-ng trafgen go; do
  command -v "$tool" >/dev/null || { echo "bench/core.sh: $tool is missing (scripts/deps.sh bench installs it)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "bench/core.sh: needs root (network namespaces)" >&2; exit 1; }

# COREBENCH=FILE runs a corebench built elsewhere (an older checkout, for
# before-and-after runs; it may not know -txmode, so rows that need it
# are left to the caller to skip).
if [[ -n ${COREBENCH:-} ]]; then
  cp "$COREBENCH" "$TMP/corebench"
else
  CGO_ENABLED=0 go build -o "$TMP/corebench" ./bench/core/corebench
fi

# shellcheck source=bench/core/veth.sh
. bench/core/veth.sh
setup() { veth_setup "$GEN" "$CAP"; }

teardown() {
  ip netns del "$GEN"
  ip netns del "$CAP"
}

# start_consumer NAME: starts it in the capture namespace and waits until it is reading.
start_consumer() {
  local out=$TMP/$1.out ready
  case $1 in
    none) CONS_PID=; return ;;
    tcpdump) ready="listening on"
      ip netns exec "$CAP" tcpdump -i c0 -n -B 65536 -w /dev/null >"$out" 2>&1 & ;;
    netsniff-ng) ready="Running"
      ip netns exec "$CAP" netsniff-ng --in c0 --out /dev/null --silent --ring-size 64MiB --no-sock-mem --notouch-irq >"$out" 2>&1 & ;;
    wirebox) ready="ready"
      "$TMP/corebench" -i c0 -netns "/run/netns/$CAP" -mode passive >"$out" 2>&1 & ;;
    wirebox-bypass) ready="ready"
      "$TMP/corebench" -i c0 -netns "/run/netns/$CAP" -mode bypass >"$out" 2>&1 & ;;
    wirebox-bypass-bp) ready="ready"
      "$TMP/corebench" -i c0 -netns "/run/netns/$CAP" -mode bypass -busypoll 50 -budget 64 >"$out" 2>&1 & ;;
  esac
  CONS_PID=$!
  for _ in $(seq 100); do
    grep -q "$ready" "$out" 2>/dev/null && return
    kill -0 "$CONS_PID" 2>/dev/null || { echo "bench/core.sh: $1 exited:" >&2; cat "$out" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench/core.sh: $1 did not start" >&2; cat "$out" >&2; exit 1
}

# stop_consumer NAME: stops it (not in a subshell: it must wait for its
# own child) and sets CONSUMED from what the consumer reported.
stop_consumer() {
  local out=$TMP/$1.out
  CONSUMED=0 CPU=0 RUN=0 DROPS=
  [[ -z $CONS_PID ]] && return
  sleep 1 # let it drain what is queued
  # CPU seconds the consumer used (user+system), before it exits.
  CPU=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$CONS_PID/stat")
  # The same from the scheduler's run time of every thread (ns, exact):
  # the tick-sampled figure above charges whole 4 ms ticks to whoever is
  # running when one fires, which over-counts threads that wake often.
  RUN=$(cat /proc/"$CONS_PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.3f", s / 1e9 }')
  kill -INT "$CONS_PID"
  wait "$CONS_PID" || true
  CONS_PID=
  case $1 in
    tcpdump) CONSUMED=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$out") ;;
    # netsniff-ng colours its summary: take the first number on the line.
    netsniff-ng) CONSUMED=$(grep -a "packets passed filter" "$out" | grep -o '[0-9][0-9]*' | head -1) ;;
    wirebox*) CONSUMED=$(sed -n 's/.*"consumed":\([0-9]*\).*/\1/p' "$out")
      # Where any loss happened: the kernel's ring, the pool, the queue.
      DROPS=$(grep -o '"rx_dropped_kernel":[0-9]*,"rx_dropped_pool":[0-9]*,"subscriber_dropped":[0-9]*' "$out" | tr -d '"' || true) ;;
  esac
  [[ -n $CONSUMED ]] || { echo "bench/core.sh: no count from $1:" >&2; cat "$out" >&2; exit 1; }
}

# trafgen_run SIZE N: sends N frames of SIZE bytes (EtherType 0x88b5, local
# experimental: nothing answers) and prints the seconds it took.
trafgen_run() {
  local size=$1 n=$2 pkt t0 t1
  pkt=$(trafgen_packet "$size")
  t0=$(date +%s.%N)
  # CPU seconds (user+system, from the kernel's exact run time) to $TMP/gen.cpu.
  { time ip netns exec "$GEN" trafgen -o g0 -n "$n" -P 1 --no-sock-mem --notouch-irq --qdisc-path --no-cpu-stats "$pkt" >"$TMP/trafgen.out" 2>&1; } 2>"$TMP/gen.time" ||
    { cat "$TMP/trafgen.out" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk '{ printf "%.3f", $1 + $2 }' "$TMP/gen.time" >"$TMP/gen.cpu"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# wirebox_send SIZE N MODE [TXMODE]: the core's batched transmit
# (Consumer.Alloc + Port.Send, 256 frames a batch) sends N frames of SIZE
# bytes on g0; prints "seconds received kicks", received as counted by c0.
wirebox_send() {
  local size=$1 n=$2 mode=$3 txmode=() out rx0 rx1
  [[ ${4:-} ]] && txmode=(-txmode "$4")
  rx0=$(rx_c0)
  out=$( { time "$TMP/corebench" -i g0 -netns "/run/netns/$GEN" -mode "$mode" "${txmode[@]}" -send "$n" -size "$size" -dst "$MAC" 2>"$TMP/send.err"; } 2>"$TMP/gen.time") ||
    { echo "bench/core.sh: corebench -send failed: $out $(cat "$TMP/send.err")" >&2; exit 1; }
  awk '{ printf "%.3f", $1 + $2 }' "$TMP/gen.time" >"$TMP/gen.cpu"
  rx1=$(rx_c0)
  echo "$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' <<<"$out") $((rx1 - rx0)) $(sed -n 's/.*"kicks":\([0-9]*\).*/\1/p' <<<"$out")"
}

# runs prints "round size frames" for each round and frame size, in the
# order both tables measure them.
runs() {
  local round size
  for round in $(seq "$ROUNDS"); do
    for size in ${SIZES:-64 1514}; do
      if [[ $size == 1514 ]]; then echo "$round $size $N1514"; else echo "$round $size $N64"; fi
    done
  done
}

# rx_c0 is the capture end's received-frame counter.
rx_c0() { ip netns exec "$CAP" cat /sys/class/net/c0/statistics/rx_packets; }

if [[ ${RX:-1} == 1 ]]; then
results=$TMP/results
: >"$results"
# Rounds interleave the consumers, so load from elsewhere on the machine
# spreads over all of them; the table shows the median generator time and
# the worst loss of the rounds.
while read -r round size n <&3; do
  for c in ${CONSUMERS:-none tcpdump netsniff-ng wirebox wirebox-bypass wirebox-bypass-bp}; do
    setup
    start_consumer "$c"
    secs=$(trafgen_run "$size" "$n")
    stop_consumer "$c"
    teardown
    echo "$size $c $n $secs $CONSUMED $CPU $RUN" >>"$results"
    echo "  round $round: $size bytes, $c: $n frames in $secs s, consumed $CONSUMED, consumer CPU $CPU s (run $RUN s)${DROPS:+, $DROPS}" >&2
  done
done 3< <(runs)

echo
echo "capture core receive benchmark: $(uname -r), $(nproc) CPUs, $ROUNDS rounds, $(date -u +%Y-%m-%dT%H:%MZ)"
sort -k1,1n -k2,2 -k4,4n "$results" | awk '
function flush() {
  if (key == "") return
  m = t[int((cnt + 1) / 2)]
  order[++nk] = key; med[key] = m; frames[key] = fr; worst[key] = wk; cpu[key] = cs / cnt; run[key] = rs / cnt
  split(key, kk, SUBSEP)
  if (kk[2] == "tcpdump") { tg[kk[1]] = fr / m; tcons[kk[1]] = wk / m }
}
{ k = $1 SUBSEP $2
  if (k != key) { flush(); key = k; cnt = 0; wk = -1; cs = 0; rs = 0 }
  t[++cnt] = $4; fr = $3; cs += $6; rs += $7
  if (wk < 0 || $5 < wk) wk = $5 }
END {
  flush()
  printf "%-6s %-15s %10s %10s %9s %7s %10s %6s %6s %7s %7s\n", "bytes", "consumer", "frames", "gen_pps", "consumed", "loss%", "cons_pps", "gen_x", "cons_x", "cpu_s", "run_s"
  for (i = 1; i <= nk; i++) {
    split(order[i], kk, SUBSEP); size = kk[1]; c = kk[2]
    g = frames[order[i]] / med[order[i]]; cp = worst[order[i]] / med[order[i]]
    gx = sprintf("%.2f", g / tg[size]); cx = (c == "none") ? "-" : sprintf("%.2f", cp / tcons[size])
    loss = (c == "none") ? "-" : sprintf("%.2f", 100 * (frames[order[i]] - worst[order[i]]) / frames[order[i]])
    printf "%-6s %-15s %10d %10.0f %9d %7s %10.0f %6s %6s %7.2f %7.3f\n", size, c, frames[order[i]], g, worst[order[i]], loss, cp, gx, cx, cpu[order[i]], run[order[i]]
  }
}'
fi

# Transmit: trafgen against the core's batched Send on the same veth, the
# receiving end left to the kernel (it counts, nobody reads).
if [[ ${TX:-1} == 1 ]]; then
  txres=$TMP/tx
  : >"$txres"
  while read -r round size n <&3; do
    for s in ${SENDERS:-trafgen wirebox-passive wirebox-passive-mmsg wirebox-bypass}; do
      setup
      case $s in
        trafgen)
          rx0=$(rx_c0)
          secs=$(trafgen_run "$size" "$n"); kicks=-
          rx1=$(rx_c0)
          recv=$((rx1 - rx0)) ;;
        wirebox-passive) read -r secs recv kicks < <(wirebox_send "$size" "$n" passive) ;;
        wirebox-passive-mmsg) read -r secs recv kicks < <(wirebox_send "$size" "$n" passive sendmmsg) ;;
        wirebox-bypass) read -r secs recv kicks < <(wirebox_send "$size" "$n" bypass) ;;
      esac
      teardown
      cpu=$(cat "$TMP/gen.cpu")
      echo "$size $s $n $secs $recv $kicks $cpu" >>"$txres"
      echo "  tx round $round: $size bytes, $s: $n frames in $secs s, received $recv, kicks $kicks, sender CPU $cpu s" >&2
    done
  done 3< <(runs)
  echo
  echo "transmit: frames sent through one port, median of $ROUNDS rounds"
  sort -k1,1n -k2,2 -k4,4n "$txres" | awk '
  function flush() {
    if (key == "") return
    m = t[int((cnt + 1) / 2)]; split(key, kk, SUBSEP)
    order[++nk] = key; frs[key] = fr; pps[key] = fr / m; rcv[key] = rv; kk_[key] = kc; cpu[key] = cs / cnt
    if (kk[2] == "trafgen") { base[kk[1]] = fr / m; bcpu[kk[1]] = cs / cnt }
  }
  { k = $1 SUBSEP $2
    if (k != key) { flush(); key = k; cnt = 0; rv = -1; cs = 0 }
    t[++cnt] = $4; fr = $3; kc = $6; cs += $7
    if (rv < 0 || $5 < rv) rv = $5 }
  END {
    flush()
    printf "%-6s %-20s %10s %10s %10s %8s %9s %7s %7s\n", "bytes", "sender", "frames", "sent_pps", "received", "kicks", "x_trafgen", "cpu_s", "cpu_x"
    for (i = 1; i <= nk; i++) {
      split(order[i], kk, SUBSEP)
      printf "%-6s %-20s %10d %10.0f %10d %8s %9.2f %7.3f %7.2f\n", kk[1], kk[2], frs[order[i]], pps[order[i]], rcv[order[i]], kk_[order[i]], pps[order[i]] / base[kk[1]], cpu[order[i]], cpu[order[i]] / bcpu[kk[1]]
    }
  }'
fi
