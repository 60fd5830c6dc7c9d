#!/usr/bin/env bash
# bench/core/profile.sh: one receive run of a corebench binary against
# trafgen, for back-to-back comparisons of two builds and for profiles.
#
#   bench/core/profile.sh CB MODE SIZE N [PERFDATA]
#
# CB is a corebench binary (go build -o X ./bench/core/corebench at each
# commit to compare), MODE passive or bypass. Prints the process's CPU
# seconds from every thread's scheduler run time (run_s, exact), the
# tick-sampled figure (cpu), the generator's rate and corebench's counts.
# THREADS=1 lists each thread's run time and context switches; with
# PERFDATA, perf records the process (perf report -i PERFDATA --sort
# pid,sym); CBFLAGS adds corebench flags. Same namespaces, veth, qdisc and
# trafgen line as bench/core.sh.
set -euo pipefail
CB=$1 MODE=$2 SIZE=$3 N=$4 PERFDATA=${5:-}
G=wbp-g-$$ C=wbp-c-$$ OUT=$(mktemp)
PID= PP=
cleanup() {
  [[ -n $PP ]] && kill -INT "$PP" 2>/dev/null || true
  [[ -n $PID ]] && kill -INT "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  ip netns del "$G" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  rm -f "$OUT"
}
trap cleanup EXIT
# shellcheck source=bench/core/veth.sh
. "$(dirname "$0")/veth.sh"
veth_setup "$G" "$C"
# shellcheck disable=SC2086 # CBFLAGS is a list of flags
"$CB" -i c0 -netns "/run/netns/$C" -mode "$MODE" ${CBFLAGS:-} >"$OUT" 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q ready "$OUT" && break; sleep 0.1; done
if [[ -n $PERFDATA ]]; then
  perf record -F 4999 -g -p "$PID" -o "$PERFDATA" >/dev/null 2>&1 &
  PP=$!
  sleep 0.3
fi
pkt=$(trafgen_packet "$SIZE")
t0=$(date +%s.%N)
ip netns exec "$G" trafgen -o g0 -n "$N" -P 1 --no-sock-mem --notouch-irq --qdisc-path --no-cpu-stats "$pkt" >/dev/null 2>&1
t1=$(date +%s.%N)
sleep 1
RT=0
for t in /proc/"$PID"/task/*; do
  r=$(awk '{ print $1 }' "$t/schedstat")
  RT=$((RT + r))
  [[ -n ${THREADS:-} ]] && echo "tid ${t##*/} run_ms $((r / 1000000)) $(grep -h voluntary_ctxt "$t/status" | tr -s ' \t\n' ' ')"
done
CPU=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$PID/stat")
if [[ -n $PP ]]; then kill -INT "$PP"; wait "$PP" || true; PP=; fi
kill -INT "$PID"
wait "$PID" || true
PID=
echo "run_s $(awk -v r="$RT" 'BEGIN { printf "%.3f", r / 1e9 }') cpu $CPU gen_pps $(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.0f", n / (b - a) }') $(tail -1 "$OUT")"
