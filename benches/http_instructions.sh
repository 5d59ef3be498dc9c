#!/usr/bin/env bash
# Deterministic HTTP benchmark: user-space instructions per request, counted by callgrind, for
# examples/http against the raw mio HTTP loop (mio_http in benches/tools), pipelined hello world.
#
#   bash benches/http_instructions.sh
#
# A bounded client (below) keeps 10 connections, each sending batches of 16 pipelined
# `GET /` requests and reading the 16 answers, for 100 and then 200 rounds. The server runs
# under `valgrind --tool=callgrind` each time; the difference of the two totals divided by the
# 16 000 extra requests is the cost of one request, start-up and shutdown removed. Wall-clock
# req/s on a small shared VM swings by more than the gap being measured; this does not.
# Everything is on 127.0.0.1 and every run is bounded by its round count and a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=benches/common.sh
source benches/common.sh
need_valgrind

scratch_and_cleanup

cargo build --release --example http 2>&1 | tail -n 1 >&2
build_bench_tools . "$tmp/cargo.json" mio_http 2>/dev/null || true
mio_http=$(artifact "$tmp/cargo.json" mio_http)
[[ -x $mio_http ]] || { log "building the mio_http peer failed"; exit 1; }

cat >"$tmp/client.py" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
rounds, conns, depth = int(sys.argv[2]), 10, 16
request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode() * depth
needle = b"Hello, World!"
socks = [socket.create_connection((host, int(port)), timeout=60) for _ in range(conns)]
answers = 0
for _ in range(rounds):
    for s in socks:
        s.sendall(request)
    for s in socks:
        got, tail = 0, b""
        while got < depth:
            data = s.recv(65536)
            if not data:
                sys.exit("connection closed early")
            buf = tail + data
            got += buf.count(needle)
            tail = buf[-(len(needle) - 1):]
        answers += got
for s in socks:
    s.close()
print(answers)
EOF

# measure <name> <rounds> <server argv...>: prints the server's total instructions.
measure() {
    local name=$1 rounds=$2
    shift 2
    local out=$tmp/$name.$rounds
    timeout 300 valgrind --tool=callgrind --callgrind-out-file="$out.cg" "$@" --addr 127.0.0.1:0 \
        >"$out.log" 2>"$out.vg" &
    local pid=$!
    pids+=("$pid")
    local addr
    addr=$(wait_listening "$out.log") || { log "$name: no address"; return 1; }
    local answers
    answers=$(timeout 240 python3 "$tmp/client.py" "$addr" "$rounds")
    [[ $answers -eq $((rounds * 160)) ]] || { log "$name: $answers answers"; return 1; }
    sleep 0.3
    kill -TERM "$pid"
    wait "$pid" || true
    sed -n 's/^summary: //p' "$out.cg" | head -n 1
}

per_request() {
    local a b
    a=$(measure "$@" 100 "${server[@]}") || return 1
    b=$(measure "$@" 200 "${server[@]}") || return 1
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", (b - a) / 16000 }'
}

# Measured from copies: a build in this tree while the script runs cannot swap them.
# EVLOOP_HTTP=path measures another build of examples/http (an older commit's, say).
cp "${EVLOOP_HTTP:-${CARGO_TARGET_DIR:-target}/release/examples/http}" "$tmp/http"
cp "$mio_http" "$tmp/mio_http"
mio_http=$tmp/mio_http
server=("$tmp/http" --threads 1)
log "evloop"
ev=$(per_request evloop) || ev=n/a
server=("$mio_http")
log "mio"
mio=$(per_request mio) || mio=n/a
ratio=n/a
[[ $ev == n/a || $mio == n/a ]] || ratio=$(awk -v a="$ev" -v b="$mio" 'BEGIN { printf "%.2f", a / b }')
printf '%-26s %10s %10s %8s\n' case evloop mio ev/mio
printf '%-26s %10s %10s %8s\n' "hello, pipelined 16 deep" "$ev" "$mio" "$ratio"
echo "instructions per request in the server (callgrind); lower is better"
