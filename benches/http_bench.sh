#!/usr/bin/env bash
# HTTP hello-world throughput: examples/http (one loop) against Node's `http` (one loop) and a
# raw mio HTTP loop (benches/tools/src/bin/mio_http.rs, the no-abstraction limit).
#
#   bash benches/http_bench.sh            # 3 rounds, 5 s per run; RUNS=5 DUR=10 for more
#
# The server runs pinned to CPU 0, wrk (one thread) to CPU 1. Three loads per server:
# 100 and 10 keep-alive connections, and 10 connections pipelining 16 requests deep.
# Every round starts each server afresh and runs all three loads, servers interleaved, so a
# slow stretch of the machine hits every server alike; each run is printed to stderr. The table
# gives, per server and load, the best round's requests/s with its p99 latency and server CPU
# seconds, and the best requests per server CPU-second (utime + stime from /proc/PID/stat
# around the run: what one core buys, whatever the noise), then the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-5}
RUNS=${RUNS:-3}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v node >/dev/null || { echo "node is required for the peer" >&2; exit 1; }
cargo build --release --example http 2>&1 | tail -1
# The raw mio HTTP loop (the no-abstraction limit), from benches/tools.
# shellcheck source=benches/common.sh
source benches/common.sh
cargo_json=$(mktemp)
build_bench_tools . "$cargo_json" mio_http 2>/dev/null || true
mio_http=$(artifact "$cargo_json" mio_http)
rm -f "$cargo_json"
[ -x "$mio_http" ] || { echo "building the mio_http peer failed" >&2; exit 1; }

TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start <command...>: runs the server on CPU 0, sets PID and ADDR.
start() {
  local out
  out=$(mktemp)
  taskset -c 0 "$@" >"$out" 2>/dev/null &
  PID=$!
  for _ in $(seq 100); do
    ADDR=$(sed -n 's/^listening on //p' "$out" | head -1)
    [ -n "$ADDR" ] && break
    sleep 0.05
  done
  rm -f "$out"
  [ -n "$ADDR" ] || { echo "server did not start: $*" >&2; exit 1; }
}

stop() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

declare -A best_rps best_p99 best_cpu best_eff

# run <name> <load> <wrk args...>: one run; keeps the best figures per (server, load).
run() {
  local name=$1 load=$2; shift 2
  local before after out rps p99 cpu eff key
  before=$(cpu_ticks "$PID")
  out=$(taskset -c 1 timeout $((DUR + 30)) wrk -t1 -d"${DUR}s" --latency "$@" "http://$ADDR/")
  after=$(cpu_ticks "$PID")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  cpu=$(awk -v a="$after" -v b="$before" -v t="$TICKS" 'BEGIN {printf "%.2f", (a - b) / t}')
  eff=$(awk -v r="$rps" -v c="$cpu" -v d="$DUR" 'BEGIN {if (c > 0) printf "%.0f", r * d / c; else print 0}')
  printf '  %-8s %-12s %12s req/s  p99 %-10s cpu %5ss  %10s req/cpu_s\n' "$name" "$load" "$rps" "$p99" "$cpu" "$eff" >&2
  key="$name $load"
  if awk -v a="$rps" -v b="${best_rps[$key]:-0}" 'BEGIN {exit !(a > b)}'; then
    best_rps[$key]=$rps best_p99[$key]=$p99 best_cpu[$key]=$cpu
  fi
  if awk -v a="$eff" -v b="${best_eff[$key]:-0}" 'BEGIN {exit !(a > b)}'; then
    best_eff[$key]=$eff
  fi
}

servers=(evloop node mio)
loads=(c100 c10 c10-pipe16)
for round in $(seq "$RUNS"); do
  for server in "${servers[@]}"; do
    echo "round $round of $RUNS: $server" >&2
    case $server in
      evloop) start "${CARGO_TARGET_DIR:-target}/release/examples/http" --addr 127.0.0.1:0 --threads 1 ;;
      node) start node benches/peers/node/http_hello.js 0 ;;
      mio) start "$mio_http" --addr 127.0.0.1:0 ;;
    esac
    taskset -c 1 wrk -t1 -c10 -d1s "http://$ADDR/" >/dev/null # warm-up (Node's JIT)
    run "$server" "c100" -c100
    run "$server" "c10" -c10
    run "$server" "c10-pipe16" -c10 -s benches/wrk_pipeline.lua
    stop
  done
done

echo "best of $RUNS rounds, ${DUR}s per run; server on CPU 0, wrk -t1 on CPU 1; node $(node --version)"
printf '%-8s %-12s %12s %10s %8s %14s\n' server load "req/s" p99 cpu_s "req/cpu_s"
for server in "${servers[@]}"; do
  for load in "${loads[@]}"; do
    key="$server $load"
    printf '%-8s %-12s %12s %10s %8s %14s\n' "$server" "$load" "${best_rps[$key]:-n/a}" \
      "${best_p99[$key]:-n/a}" "${best_cpu[$key]:-n/a}" "${best_eff[$key]:-n/a}"
  done
done
echo
echo "ratios (evloop / peer): req/s, then req per server CPU-second"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
printf '%-12s %10s %10s %10s %10s\n' load node node/cpu mio mio/cpu
for load in "${loads[@]}"; do
  printf '%-12s %10s %10s %10s %10s\n' "$load" \
    "$(ratio "${best_rps[evloop $load]:-0}" "${best_rps[node $load]:-0}")" \
    "$(ratio "${best_eff[evloop $load]:-0}" "${best_eff[node $load]:-0}")" \
    "$(ratio "${best_rps[evloop $load]:-0}" "${best_rps[mio $load]:-0}")" \
    "$(ratio "${best_eff[evloop $load]:-0}" "${best_eff[mio $load]:-0}")"
done
echo "targets: req/s >= 2x node with no higher p99 (c100, c10); c10-pipe16 >= 0.9x mio. wrk's pipelining script reports no latency (0us)."
