#!/usr/bin/env bash
# Pipelined HTTP (wrk, 10 connections, 16 requests deep: benches/wrk_pipeline.lua), examples/http
# (one loop) against the raw mio HTTP loop (benches/tools/src/bin/mio_http.rs), in many short
# interleaved rounds: the method for a machine shared with other work, where one sweep cannot
# settle a 10 % question.
#
#   bash benches/http_rounds.sh              # 7 rounds of 4 s per server
#   ROUNDS=9 DUR=5 bash benches/http_rounds.sh
#
# Each round starts both servers afresh, one after the other (the order alternates from round
# to round, so neither always runs in the other's wake), server pinned to CPU 0 and wrk (one
# thread) to CPU 1. Per run: wrk's requests/s and the server's CPU time over the run (utime +
# stime of all its threads, to the nanosecond from /proc/PID/task/*/schedstat), hence requests
# per server CPU-second: what one core buys, whatever else the machine is doing. Per round, the
# ratios evloop/mio of both; the summary is the median ratio with its min–max over the rounds.
# Every run is printed to stderr. Everything is on 127.0.0.1 and bounded by DUR and a timeout.
#
# EVLOOP_HTTP=path measures another build of examples/http; EVLOOP_HTTP_BASE=path adds a third
# server to every round (an older build, as "base"), reported against the same mio runs.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-4}
ROUNDS=${ROUNDS:-7}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# shellcheck source=benches/common.sh
source benches/common.sh
cargo build --release --example http 2>&1 | tail -n 1 >&2
cargo_json=$(mktemp)
build_bench_tools . "$cargo_json" mio_http 2>/dev/null || true
mio_http=$(artifact "$cargo_json" mio_http)
rm -f "$cargo_json"
[[ -x $mio_http ]] || { log "building the mio_http peer failed"; exit 1; }
# Run from copies: a build in this tree during the rounds cannot swap a binary between them.
# EVLOOP_HTTP=path measures another build of examples/http (an older commit's, say).
bins=$(mktemp -d)
cp "${EVLOOP_HTTP:-${CARGO_TARGET_DIR:-target}/release/examples/http}" "$bins/http"
cp "$mio_http" "$bins/mio_http"
mio_http=$bins/mio_http
servers=(evloop mio)
if [[ -n ${EVLOOP_HTTP_BASE:-} ]]; then
    cp "$EVLOOP_HTTP_BASE" "$bins/http_base"
    servers=(evloop mio base)
fi

TICKS=$(getconf CLK_TCK)
# The server's CPU time: utime (clock ticks, for the user share) and, to the nanosecond, the
# time its threads have run (utime + stime as the scheduler counts it: the sum of
# /proc/PID/task/*/schedstat; ticks alone are too coarse for a server using 10 % of a core).
cpu_ticks() {
    awk '{print $14}' "/proc/$1/stat"
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%d\n", ns}'
}

PID=
cleanup() {
    [[ -z $PID ]] || kill -TERM "$PID" 2>/dev/null || true
    rm -rf "$bins"
}
trap cleanup EXIT

# start <command...>: runs the server on CPU 0, sets PID and ADDR.
start() {
    local out
    out=$(mktemp)
    taskset -c 0 "$@" >"$out" 2>/dev/null &
    PID=$!
    ADDR=
    for _ in $(seq 100); do
        ADDR=$(sed -n 's/^listening on //p' "$out" | head -n 1)
        [[ -n $ADDR ]] && break
        sleep 0.05
    done
    rm -f "$out"
    [[ -n $ADDR ]] || { log "server did not start: $*"; exit 1; }
}

stop() {
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}

# run <name>: one pipelined run against the started server; prints "rps rps_per_cpu_s".
run() {
    local name=$1 user0 ns0 user1 ns1 out rps cpu user eff
    taskset -c 1 timeout 30 wrk -t1 -c10 -d1s -s benches/wrk_pipeline.lua "http://$ADDR/" >/dev/null
    { read -r user0; read -r ns0; } < <(cpu_ticks "$PID")
    out=$(taskset -c 1 timeout $((DUR + 30)) wrk -t1 -c10 -d"${DUR}s" -s benches/wrk_pipeline.lua \
        "http://$ADDR/")
    { read -r user1; read -r ns1; } < <(cpu_ticks "$PID")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    cpu=$(awk -v n="$((ns1 - ns0))" 'BEGIN {printf "%.4f", n / 1e9}')
    user=$(awk -v u="$((user1 - user0))" -v t="$TICKS" 'BEGIN {printf "%.2f", u / t}')
    eff=$(awk -v r="$rps" -v c="$cpu" -v d="$DUR" 'BEGIN {if (c > 0) printf "%.0f", r * d / c; else print 0}')
    log "$(printf '  %-7s %12s req/s  cpu %6ss (user %5ss)  %10s req/cpu_s' "$name" "$rps" "$cpu" \
        "$user" "$eff")"
    echo "$rps $eff"
}

one() {
    case $1 in
        evloop) start "$bins/http" --addr 127.0.0.1:0 --threads 1 ;;
        mio) start "$mio_http" --addr 127.0.0.1:0 ;;
        base) start "$bins/http_base" --addr 127.0.0.1:0 --threads 1 ;;
    esac
    run "$1"
    stop
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
rate_ratios=()
cpu_ratios=()
base_rate_ratios=()
base_cpu_ratios=()
declare -A rps eff
n=${#servers[@]}
for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    # The order rotates from round to round.
    for i in $(seq 0 $((n - 1))); do
        server=${servers[$(((i + round - 1) % n))]}
        read -r "rps[$server]" "eff[$server]" < <(one "$server")
    done
    rate_ratios+=("$(ratio "${rps[evloop]}" "${rps[mio]}")")
    cpu_ratios+=("$(ratio "${eff[evloop]}" "${eff[mio]}")")
    line=$(printf 'round %2d  evloop %8.0f req/s %8.0f req/cpu_s  mio %8.0f req/s %8.0f req/cpu_s  evloop/mio %s / %s' \
        "$round" "${rps[evloop]}" "${eff[evloop]}" "${rps[mio]}" "${eff[mio]}" \
        "${rate_ratios[-1]}" "${cpu_ratios[-1]}")
    if ((n == 3)); then
        base_rate_ratios+=("$(ratio "${rps[base]}" "${rps[mio]}")")
        base_cpu_ratios+=("$(ratio "${eff[base]}" "${eff[mio]}")")
        line+=$(printf '  base %8.0f req/s %8.0f req/cpu_s  base/mio %s / %s' "${rps[base]}" \
            "${eff[base]}" "${base_rate_ratios[-1]}" "${base_cpu_ratios[-1]}")
    fi
    echo "$line"
done

# summary <values...>: "median (min–max)".
summary() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1}
        END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
             printf "%.2f (%.2f–%.2f)", m, v[1], v[NR]}'
}
echo "$ROUNDS interleaved rounds, ${DUR}s per run; server on CPU 0, wrk -t1 -c10 (16 pipelined) on CPU 1"
echo "evloop/mio by req/s:            $(summary "${rate_ratios[@]}")"
echo "evloop/mio by req/server CPU-s: $(summary "${cpu_ratios[@]}")"
if ((n == 3)); then
    echo "base/mio by req/s:              $(summary "${base_rate_ratios[@]}")"
    echo "base/mio by req/server CPU-s:   $(summary "${base_cpu_ratios[@]}")"
fi
