#!/usr/bin/env bash
# Static files: examples/http (one loop, `Responder::send_file`: 256 KiB chunks read on the pool)
# against nginx (one worker, `sendfile on`) and Node (`fs.createReadStream(path).pipe(res)`),
# with wrk, for a 1 KiB, a 1 MiB and a 256 MiB file.
#
#   bash benches/static_bench.sh            # 3 rounds, 5 s per run; RUNS=5 DUR=10 for more
#
# wrk keeps 8 connections busy (CONNS=8) for every size. Every server runs pinned to CPU 0
# (its helper threads too), wrk (one thread) to CPU 1. Each
# run starts its server afresh, and rounds interleave servers and sizes, so a slow stretch of
# the machine hits every server alike; each run is printed to stderr. The table gives, per
# server and file, the best round's requests/s and MB/s, and the largest peak RSS (VmHWM of
# the serving process: nginx's worker) over the rounds, then the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-5}
RUNS=${RUNS:-3}
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
    evloop) taskset -c 0 target/release/examples/http --addr 127.0.0.1:0 --root "$dir" >"$out" 2>/dev/null & ;;
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

declare -A best_rps best_mbs peak_rss

# to_mb <wrk Transfer/sec value>: MB/s (10^6 bytes).
to_mb() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    f = (u == "GB") ? 1073741824 : (u == "MB") ? 1048576 : (u == "KB") ? 1024 : 1;
    printf "%.1f", n * f / 1e6 }'
}

run() {
  local name=$1 file=$2 conns=$3 dur=$DUR out rps mbs rss key
  # A 256 MiB download takes about a second: long enough runs for many to finish.
  [ "$file" = f256m ] && [ "$dur" -lt 10 ] && dur=10
  out=$(taskset -c 1 timeout $((dur + 60)) wrk -t1 -c"$conns" -d"${dur}s" "http://$ADDR/files/$file")
  rss=$(hwm_kib "$PID")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  mbs=$(to_mb "$(awk '/^Transfer\/sec/ {print $2}' <<<"$out")")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "$name $file: $(grep -E 'Non-2xx|Socket errors' <<<"$out")" >&2
  fi
  echo "round $round $name $file: $rps req/s, $mbs MB/s, peak RSS $rss KiB" >&2
  key="$name/$file"
  if [ -z "${best_rps[$key]:-}" ] || awk -v a="$rps" -v b="${best_rps[$key]}" 'BEGIN {exit !(a > b)}'; then
    best_rps[$key]=$rps
    best_mbs[$key]=$mbs
  fi
  if [ "$rss" -gt "${peak_rss[$key]:-0}" ]; then peak_rss[$key]=$rss; fi
}

# The same load for every size, so peak RSS can be compared across sizes.
conns_for() { echo "${CONNS:-8}"; }

for round in $(seq "$RUNS"); do
  for file in f1k f1m f256m; do
    for name in evloop nginx node; do
      start "$name"
      run "$name" "$file" "$(conns_for "$file")"
      stop
    done
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "| file | server | req/s | MB/s | peak RSS (MiB) |"
echo "| --- | --- | ---: | ---: | ---: |"
for file in f1k f1m f256m; do
  for name in evloop nginx node; do
    key="$name/$file"
    printf '| %s | %s | %s | %s | %.1f |\n' "$file" "$name" "${best_rps[$key]}" "${best_mbs[$key]}" \
      "$(awk -v k="${peak_rss[$key]}" 'BEGIN {print k / 1024}')"
  done
done
echo
echo "| file | evloop/nginx req/s | evloop/node req/s | RSS evloop/nginx | RSS evloop/node |"
echo "| --- | ---: | ---: | ---: | ---: |"
for file in f1k f1m f256m; do
  printf '| %s | %s | %s | %s | %s |\n' "$file" \
    "$(ratio "${best_rps[evloop/$file]}" "${best_rps[nginx/$file]}")" \
    "$(ratio "${best_rps[evloop/$file]}" "${best_rps[node/$file]}")" \
    "$(ratio "${peak_rss[evloop/$file]}" "${peak_rss[nginx/$file]}")" \
    "$(ratio "${peak_rss[evloop/$file]}" "${peak_rss[node/$file]}")"
done
