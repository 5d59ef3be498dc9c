#!/usr/bin/env bash
# HTTP hello-world throughput: examples/http (one loop) against Node's `http` (one loop) and a
# raw mio HTTP loop (benches/peers/mio_http.rs, the no-abstraction limit).
#
#   bash benches/http_bench.sh            # 5 s per run; DUR=10 for longer runs
#
# The server runs pinned to CPU 0, wrk (one thread) to CPU 1. Three loads per server:
# 100 and 10 keep-alive connections, and 10 connections pipelining 16 requests deep.
# Prints requests/s, p99 latency and requests per server CPU-second (utime + stime from
# /proc/PID/stat around the run): the last figure is what one core buys, whatever the noise.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-5}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v node >/dev/null || { echo "node is required for the peer" >&2; exit 1; }
cargo build --release --example http 2>&1 | tail -1
# The raw mio HTTP loop (the no-abstraction limit): locate the bench binary cargo builds.
mio_http=$(cargo bench --no-run --bench mio_http --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "mio_http" and m.get("executable"):
        print(m["executable"])
' | tail -n 1)
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

# run <name> <load> <wrk args...>
run() {
  local name=$1 load=$2; shift 2
  local before after out rps p99 cpu
  before=$(cpu_ticks "$PID")
  out=$(taskset -c 1 wrk -t1 -d"${DUR}s" --latency "$@" "http://$ADDR/")
  after=$(cpu_ticks "$PID")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  cpu=$(awk -v a="$after" -v b="$before" -v t="$TICKS" 'BEGIN {printf "%.2f", (a - b) / t}')
  printf '%-8s %-12s %12s %10s %8s %14s\n' "$name" "$load" "$rps" "$p99" "$cpu" \
    "$(awk -v r="$rps" -v c="$cpu" -v d="$DUR" 'BEGIN {if (c > 0) printf "%.0f", r * d / c; else print "-"}')"
}

printf '%-8s %-12s %12s %10s %8s %14s\n' server load "req/s" p99 cpu_s "req/cpu_s"
for server in evloop node mio; do
  case $server in
    evloop) start target/release/examples/http --addr 127.0.0.1:0 --threads 1 ;;
    node) start node benches/peers/node/http_hello.js 0 ;;
    mio) start "$mio_http" --addr 127.0.0.1:0 ;;
  esac
  taskset -c 1 wrk -t1 -c10 -d1s "http://$ADDR/" >/dev/null # warm-up (Node's JIT)
  run "$server" "c100" -c100
  run "$server" "c10" -c10
  run "$server" "c10-pipe16" -c10 -s benches/wrk_pipeline.lua
  stop
done
