#!/usr/bin/env bash
# Deterministic networking benchmark: user-space instructions per unit of work, counted by
# callgrind, for evloop's examples/echo against the C echo server on libuv and the raw mio loop,
# plus tcp_write_batch (evloop vs libuv).
#
#   bash benches/net_instructions.sh
#
# Wall-clock rates on a small shared VM swing by more than the differences being measured; an
# instruction count does not. Each server runs under `valgrind --tool=callgrind` twice, serving a
# small and a large fixed amount of work from net_client (benches/tools, `--max-ops`); the
# difference of the two totals divided by the difference in work removes start-up and shutdown,
# leaving the cost of one round trip (pingpong) or one connection (pound). tcp_write_batch counts
# the main thread only (the reader thread is not part of the writer's cost) for 100 000 and
# 1 000 000 writes. Kernel time is not counted: the syscalls per unit are the same or fewer for
# evloop (see BENCHMARKS.md), so fewer instructions means less CPU per unit.
# Every load is bounded by --max-ops and a timeout; everything is on 127.0.0.1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=$here/peers/build

# shellcheck source=benches/common.sh
source "$here/common.sh"
need_valgrind

scratch_and_cleanup


build_net_bins "$root" "$tmp"

build_c_peers "$build" echo_server tcp_write_batch

server_argv() {
    case $1 in
        evloop) echo "$evloop_echo --addr 127.0.0.1:0 --threads 1" ;;
        libuv) [[ ! -x $build/echo_server ]] || echo "$build/echo_server --addr 127.0.0.1:0" ;;
        mio) echo "$mio_bin --addr 127.0.0.1:0" ;;
    esac
}

# Total instructions of the server under callgrind serving <mode> with --max-ops <ops>;
# prints "<instructions> <ops done>".
measure() {
    local side=$1 mode=$2 conns=$3 size=$4 ops=$5
    local argv
    argv=$(server_argv "$side")
    [[ -n $argv ]] || return 1
    local out=$tmp/out.$side cg=$tmp/cg.$side.$mode.$ops
    # shellcheck disable=SC2086 # argv is a plain word list
    timeout 300 valgrind --tool=callgrind --callgrind-out-file="$cg" $argv >"$out" 2>"$tmp/vg.err" &
    local pid=$!
    pids+=("$pid")
    local addr
    addr=$(wait_listening "$out") || { log "$side: no address"; kill -KILL "$pid"; return 1; }
    local line
    line=$(timeout 240 "$client" "$mode" --addr "$addr" --conns "$conns" --size "$size" \
        --secs 200 --max-ops "$ops") || { log "$side: client failed"; kill -KILL "$pid"; return 1; }
    sleep 0.3
    kill -TERM "$pid"
    wait "$pid" || true
    local done_ops total
    done_ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$line")
    total=$(sed -n 's/^summary: //p' "$cg" | head -n 1)
    [[ -n $total && -n $done_ops ]] || { log "$side: no count"; return 1; }
    echo "$total $done_ops"
}

# Instructions per unit: (I2 - I1) / (ops2 - ops1).
per_unit() {
    local a b
    a=$(measure "$@" "$small") || return 1
    b=$(measure "$@" "$large") || return 1
    awk -v a="$a" -v b="$b" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        if (y[2] == x[2]) exit 1;
        printf "%.0f", (y[1] - x[1]) / (y[2] - x[2]) }'
}

ratio() {
    if [[ $1 == n/a || $2 == n/a ]]; then
        echo n/a
    else
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    fi
}

printf '%-18s %10s %10s %10s %9s %9s\n' case evloop libuv mio ev/libuv ev/mio
for spec in "pingpong 1 64 2000 6000 pingpong_1x64" "pingpong 100 64 4000 12000 pingpong_100x64" \
    "pound 100 64 1000 4000 pound_100"; do
    read -r mode conns size small large name <<<"$spec"
    ev=$(per_unit evloop "$mode" "$conns" "$size") || ev=n/a
    uv=$(per_unit libuv "$mode" "$conns" "$size") || uv=n/a
    mi=$(per_unit mio "$mode" "$conns" "$size") || mi=n/a
    log "$name: evloop $ev, libuv $uv, mio $mi"
    printf '%-18s %10s %10s %10s %9s %9s\n' "$name" "$ev" "$uv" "$mi" "$(ratio "$ev" "$uv")" \
        "$(ratio "$ev" "$mi")"
done

# tcp_write_batch: main thread only, 100 000 (--quick) vs 1 000 000 writes.
twb() {
    local cmd=$1 quick=$2
    local cg=$tmp/twb.$3.${quick:-full}
    # shellcheck disable=SC2086
    timeout 300 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$cg" \
        $cmd tcp_write_batch $quick >/dev/null 2>"$tmp/vg.err" || return 1
    sed -n 's/^summary: //p' "$cg-01" | head -n 1
}
log "tcp_write_batch: evloop, libuv"
ev_q=$(twb "$peer_workloads" --quick ev) ev_f=$(twb "$peer_workloads" "" ev) || ev_q=
uv_q= uv_f=
if [[ -x $build/tcp_write_batch ]]; then
    uv_q=$(twb "$build/tcp_write_batch" --quick uv) uv_f=$(twb "$build/tcp_write_batch" "" uv) || uv_q=
fi
ev=n/a uv=n/a
[[ -z $ev_q ]] || ev=$(awk -v a="$ev_q" -v b="$ev_f" 'BEGIN { printf "%.0f", (b - a) / 900000 }')
[[ -z $uv_q ]] || uv=$(awk -v a="$uv_q" -v b="$uv_f" 'BEGIN { printf "%.0f", (b - a) / 900000 }')
printf '%-18s %10s %10s %10s %9s %9s\n' tcp_write_batch "$ev" "$uv" - "$(ratio "$ev" "$uv")" -
echo "instructions per round trip (pingpong), per connection (pound), per write (tcp_write_batch); lower is better"
