#!/usr/bin/env bash
# Static files: examples/http (one loop, `Responder::send_file`: on Linux the kernel's
# `sendfile` from the loop thread as each socket drains, at most 2 MiB per connection and loop
# iteration) against nginx (one worker, `sendfile on`) and Node
# (`fs.createReadStream(path).pipe(res)`), with wrk, for a 1 KiB, a 1 MiB and a 256 MiB file.
#
#   bash benches/static_bench.sh            # 5 rounds, 5 s per run; RUNS=7 DUR=10 for more
#
# wrk keeps 8 connections busy (CONNS=8) for every size. Every server runs pinned to CPU 0
# (its helper threads too), wrk (one thread) to CPU 1. Each run starts its server afresh, and
# rounds interleave servers and sizes, so a slow stretch of the machine hits every server
# alike; each run is printed to stderr with the load average at its start. Per run: requests/s
# and MB/s (wrk), the serving process's CPU time (utime + stime from /proc, all its threads;
# nginx's worker), its peak RSS (VmHWM), and wrk's own CPU time and run-queue wait (from
# /proc/<wrk>/task/*/schedstat 0.3 s before it ends): on-CPU plus waiting-for-CPU near the
# run's length means the client was runnable all along, i.e. the client, not the server, was
# the bound. The tables give, per server and file, the median over rounds
# (min–max), requests and MB per server CPU-second, server and wrk CPU time per request (the
# side that costs more per response is the bound once both have a core to themselves), the
# largest peak RSS, then the ratios
# evloop/peer computed per round (a round's servers ran minutes apart at most) as median
# (min–max).
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-5}
RUNS=${RUNS:-5}
# evloop-pool: the same example with `--no-sendfile` (the body read on the pool in 256 KiB
# chunks), for the trade-off between the two paths.
SERVERS=${SERVERS:-evloop evloop-pool nginx node}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx; }
command -v node >/dev/null || { echo "node is required for the peer" >&2; exit 1; }
cargo build --release --example http 2>&1 | tail -1

dir=$(mktemp -d /tmp/evloop-static.XXXXXX)
trap 'stop; rm -rf "$dir"' EXIT
head -c 1024 /dev/urandom >"$dir/f1k"
head -c $((1 << 20)) /dev/urandom >"$dir/f1m"
head -c $((256 << 20)) /dev/urandom >"$dir/f256m"

cat >"$dir/node_static.js" <<'JS'
// The Node peer: a file per request, exactly `fs.createReadStream(path).pipe(res)`.
const http = require('http');
const fs = require('fs');
const path = require('path');
const root = process.argv[2];
const server = http.createServer((req, res) => {
  fs.createReadStream(path.join(root, req.url.slice('/files/'.length))).pipe(res);
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${server.address().port}`));
JS

nginx_conf() {
  cat >"$dir/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_temp_path $dir/nginx-body;
  proxy_temp_path $dir/nginx-proxy;
  fastcgi_temp_path $dir/nginx-fastcgi;
  uwsgi_temp_path $dir/nginx-uwsgi;
  scgi_temp_path $dir/nginx-scgi;
  server {
    listen 127.0.0.1:$1;
    location /files/ { alias $dir/; }
  }
}
CONF
}

PID=
# start <name>: runs the server on CPU 0; sets PID (the serving process) and ADDR.
start() {
  local out port
  out=$(mktemp)
  case $1 in
    evloop) taskset -c 0 "${CARGO_TARGET_DIR:-target}/release/examples/http" --addr 127.0.0.1:0 --root "$dir" >"$out" 2>/dev/null & ;;
    evloop-pool)
      taskset -c 0 "${CARGO_TARGET_DIR:-target}/release/examples/http" --addr 127.0.0.1:0 --root "$dir" --no-sendfile \
        >"$out" 2>/dev/null &
      ;;
    node) taskset -c 0 node "$dir/node_static.js" "$dir" >"$out" 2>/dev/null & ;;
    nginx)
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      nginx_conf "$port"
      taskset -c 0 nginx -c "$dir/nginx.conf" >/dev/null 2>&1 &
      echo "listening on 127.0.0.1:$port" >"$out"
      ;;
  esac
  PID=$!
  ADDR=$(sed -n 's/^listening on //p' "$out" | head -1)
  for _ in $(seq 100); do
    [ -z "$ADDR" ] && ADDR=$(sed -n 's/^listening on //p' "$out" | head -1)
    [ -n "$ADDR" ] && curl -s -o /dev/null "http://$ADDR/files/f1k" && break
    sleep 0.05
  done
  rm -f "$out"
  if [ "$1" = nginx ]; then
    # The worker serves; the master only forks it.
    PID=$(pgrep -P "$PID" | head -1)
  fi
  [ -n "$ADDR" ] || { echo "server did not start: $1" >&2; exit 1; }
}

stop() {
  [ -n "${PID:-}" ] || return 0
  if [ -f "$dir/nginx.pid" ]; then
    kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null || true
    rm -f "$dir/nginx.pid"
  fi
  kill -TERM "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  PID=
}

hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# cpu_ticks <pid>: utime + stime of the process (every thread), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

# to_mb <wrk Transfer/sec value>: MB/s (10^6 bytes).
to_mb() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    f = (u == "GB") ? 1073741824 : (u == "MB") ? 1048576 : (u == "KB") ? 1024 : 1;
    printf "%.1f", n * f / 1e6 }'
}

results="$dir/results.tsv"
: >"$results"

run() {
  local name=$1 file=$2 conns=$3 dur=$DUR out rps mbs rss cpu0 cpu1 load wrk_cpu
  # A 256 MiB download takes about a second: long enough runs for many to finish.
  [ "$file" = f256m ] && [ "$dur" -lt 10 ] && dur=10
  load=$(cut -d' ' -f1 /proc/loadavg)
  cpu0=$(cpu_ticks "$PID")
  local wrk_pid wrk_busy t0 sched
  taskset -c 1 timeout $((dur + 60)) wrk -t1 -c"$conns" -d"${dur}s" \
    "http://$ADDR/files/$file" >"$dir/wrk.out" &
  wrk_pid=$!
  t0=$(date +%s.%N)
  sleep "$(awk -v d="$dur" 'BEGIN {print d - 0.3}')"
  # Every wrk thread's on-CPU time and run-queue wait so far (ns), over the time since start.
  sched=$(cat /proc/"$(pgrep -P "$wrk_pid" -x wrk || echo "$wrk_pid")"/task/*/schedstat 2>/dev/null |
    awk -v t0="$t0" -v now="$(date +%s.%N)" \
      '{r += $1; w += $2} END {printf "%.2f %.0f", r / 1e9, 100 * (r + w) / 1e9 / (now - t0)}')
  wait "$wrk_pid"
  wrk_cpu=${sched% *}
  wrk_busy=${sched#* }
  out=$(cat "$dir/wrk.out")
  cpu1=$(cpu_ticks "$PID")
  rss=$(hwm_kib "$PID")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  mbs=$(to_mb "$(awk '/^Transfer\/sec/ {print $2}' <<<"$out")")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "$name $file: $(grep -E 'Non-2xx|Socket errors' <<<"$out")" >&2
  fi
  local cpu
  cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
  echo "round $round $name $file: $rps req/s, $mbs MB/s, server CPU ${cpu}s, wrk CPU ${wrk_cpu}s of ${dur}s (runnable ${wrk_busy} % of the time), peak RSS $rss KiB, load $load" >&2
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$file" "$rps" "$mbs" \
    "$cpu" "$wrk_cpu" "$dur" "$rss" "$load" "$wrk_busy" >>"$results"
}

# The same load for every size, so peak RSS can be compared across sizes.
conns_for() { echo "${CONNS:-8}"; }

for round in $(seq "$RUNS"); do
  for file in f1k f1m f256m; do
    for name in $SERVERS; do
      start "$name"
      run "$name" "$file" "$(conns_for "$file")"
      stop
    done
  done
done

python3 - "$results" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(dict)   # (file, server) -> round -> row
for line in open(sys.argv[1]):
    rnd, name, file, rps, mbs, cpu, wrk_cpu, dur, rss, load, busy = line.split('\t')
    runs[(file, name)][int(rnd)] = dict(rps=float(rps), mbs=float(mbs), cpu=float(cpu),
        wrk=float(wrk_cpu), dur=float(dur), rss=int(rss), load=float(load),
        busy=float(busy or 'nan'))
files = [('f1k', '1 KiB'), ('f1m', '1 MiB'), ('f256m', '256 MiB')]
servers = [s for s in ['evloop', 'evloop-pool', 'nginx', 'node'] if any(k[1] == s for k in runs)]
def spread(xs, fmt):
    xs = sorted(xs)
    return f"{fmt(statistics.median(xs))} ({fmt(xs[0])}–{fmt(xs[-1])})"
num = lambda x: f"{x:,.0f}".replace(',', ' ') if x >= 100 else f"{x:.2f}"
rat = lambda x: f"{x:.2f}"
pct = lambda x: f"{x:.0f} %"
loads = [r['load'] for v in runs.values() for r in v.values()]
print(f"\n{len(next(iter(runs.values())))} rounds; load average (1 min) at run starts: "
      f"median {statistics.median(loads):.1f}, {min(loads):.1f}–{max(loads):.1f}\n")
print("| file | server | req/s | MB/s | req per server CPU-s | MB per server CPU-s | server CPU | wrk CPU | wrk runnable | server µs/req | wrk µs/req | peak RSS (MiB) |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
def per_cpu(r, k): return r[k] * r['dur'] / r['cpu'] if r['cpu'] > 0 else float('nan')
# CPU time per request of the server or of wrk (µs): which side each response costs more, so
# which one bounds the rate when both cores are free (the other has room to spare).
# wrk's CPU is sampled 0.3 s before its end.
def us_per_req(r, k):
    span = r['dur'] - (0.3 if k == 'wrk' else 0)
    return 1e6 * r[k] / (r['rps'] * span) if r['rps'] > 0 else float('nan')
for f, label in files:
    for s in servers:
        rs = list(runs[(f, s)].values())
        print(f"| {label} | {s} | {spread([r['rps'] for r in rs], num)} | {spread([r['mbs'] for r in rs], num)} "
              f"| {spread([per_cpu(r, 'rps') for r in rs], num)} | {spread([per_cpu(r, 'mbs') for r in rs], num)} "
              f"| {spread([100 * r['cpu'] / r['dur'] for r in rs], pct)} | {spread([100 * r['wrk'] / r['dur'] for r in rs], pct)} "
              f"| {spread([r['busy'] for r in rs], pct)} "
              f"| {spread([us_per_req(r, 'cpu') for r in rs], num)} | {spread([us_per_req(r, 'wrk') for r in rs], num)} "
              f"| {max(r['rss'] for r in rs) / 1024:.1f} |")
print("\nPer-round ratios evloop/peer, median (min–max):\n")
print("| file | evloop | req/s vs nginx | req/s vs node | per CPU-s vs nginx | per CPU-s vs node | peak RSS vs nginx | peak RSS vs node |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for f, label in files:
    for ev in [s for s in servers if s.startswith('evloop')]:
        cells = []
        for key in ['rps', 'eff']:
            for peer in ['nginx', 'node']:
                xs = []
                for rnd, e in runs[(f, ev)].items():
                    p = runs[(f, peer)].get(rnd)
                    if not p: continue
                    if key == 'rps': xs.append(e['rps'] / p['rps'])
                    else: xs.append(per_cpu(e, 'rps') / per_cpu(p, 'rps'))
                cells.append(spread(xs, rat))
        for peer in ['nginx', 'node']:
            cells.append(rat(max(r['rss'] for r in runs[(f, ev)].values()) /
                             max(r['rss'] for r in runs[(f, peer)].values())))
        print(f"| {label} | {ev} | " + " | ".join(cells) + " |")
PY
