#!/usr/bin/env bash
# What metrics cost a busy server: examples/http with everything off except the always-on
# counters and its 10 ms lag monitor, against the same server with `--instrument` (per-phase
# callback timing, slow-callback reports, the watchdog thread). Target: >= 0.98x throughput.
#
#   bash benches/metrics_overhead.sh        # 4 alternating rounds of 5 s; DUR=, ROUNDS= to change
#
# Server pinned to CPU 0, wrk (one thread, 10 keep-alive connections) to CPU 1. Rounds alternate
# off/on so drift on a shared machine hits both sides; the best round of each side is compared,
# and requests per server CPU-second are printed beside the raw rate.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-5}
ROUNDS=${ROUNDS:-4}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --example http 2>&1 | tail -1
TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

PID=
trap '[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; true' EXIT

# round <label> <extra args...>: prints "label req/s req/cpu_s"
round() {
  local label=$1 out addr before after rps
  shift
  out=$(mktemp)
  taskset -c 0 "${CARGO_TARGET_DIR:-target}/release/examples/http" --addr 127.0.0.1:0 "$@" >"$out" 2>/dev/null &
  PID=$!
  addr=
  for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$out" | head -1)
    [ -n "$addr" ] && break
    sleep 0.05
  done
  rm -f "$out"
  [ -n "$addr" ] || { echo "server did not start" >&2; exit 1; }
  taskset -c 1 wrk -t1 -c10 -d1s "http://$addr/" >/dev/null
  before=$(cpu_ticks "$PID")
  rps=$(taskset -c 1 wrk -t1 -c10 -d"${DUR}s" "http://$addr/" | awk '/^Requests\/sec/ {print $2}')
  after=$(cpu_ticks "$PID")
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  awk -v l="$label" -v r="$rps" -v a="$after" -v b="$before" -v t="$TICKS" -v d="$DUR" \
    'BEGIN {c = (a - b) / t; printf "%s %.0f %.0f\n", l, r, (c > 0 ? r * d / c : 0)}'
}

results=$(mktemp)
for _ in $(seq "$ROUNDS"); do
  round off >>"$results"
  round on --instrument >>"$results"
done
printf '%-4s %12s %12s\n' side "req/s" "req/cpu_s"
while read -r side rps per; do printf '%-4s %12s %12s\n' "$side" "$rps" "$per"; done <"$results"
awk '{ if ($2 > best[$1]) best[$1] = $2; if ($3 > cpu[$1]) cpu[$1] = $3 }
  END {
    r = best["on"] / best["off"]; c = cpu["on"] / cpu["off"]
    printf "best on/off: %.3f (req/s), %.3f (req per CPU-second); target >= 0.98: %s\n",
      r, c, (r >= 0.98 ? "PASS" : "MISS")
  }' "$results"
rm -f "$results"
