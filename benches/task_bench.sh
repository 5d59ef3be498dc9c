#!/usr/bin/env bash
# Futures benchmarks (evloop::task) against their peers, measured in one run:
#
#   bash benches/task_bench.sh [--quick] [--micro]
#
# (`--micro`: the await-chain and spawn rows only, with their instruction counts.)
#
# - await chain: one task awaiting N futures that each complete after one wake, vs Node's async
#   function awaiting N times (`await null`: one microtask per await, as ours is one wake and
#   one microtask per await), and tokio (current-thread LocalSet) for reference;
# - spawn-and-complete: N tasks spawned then run to completion, vs tokio's
#   `LocalSet::spawn_local`;
# - echo: `examples/echo --async` vs `examples/echo` (callbacks) vs a tokio current-thread echo
#   (benches/tools/src/bin/tokio_echo.rs), 100 connections ping-ponging 1 KiB (net_client);
# - hyper: `examples/hyper` (hyper on evloop) vs the same service on hyper + tokio
#   current-thread (tokio_hyper), `wrk -t1 -c100`.
#
# Servers run pinned to CPU 0, clients to CPU 1. RUNS rounds (TASK_BENCH_RUNS, default 5)
# interleave the sides (evloop, then its peer, in every round); each row reports the median of
# the per-round ratios with their min–max, so a load change between rounds moves both sides of
# a ratio alike. For servers the CPU time (utime + stime from /proc) gives work per server
# CPU-second. Instruction counts (callgrind, deterministic) back every row: per await and per
# spawn from the difference of two runs (N and 2N, so start-up cancels out); per round trip and
# per request from a server run under callgrind driven for a few seconds (start-up included,
# under 1% of it). The load average is printed before and after: the machine may be shared.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=benches/common.sh
source "$here/common.sh"

quick=0
micro=0
for arg in "$@"; do
    case $arg in
        --quick) quick=1 ;;
        --micro) micro=1 ;;
        *) echo "usage: $0 [--quick] [--micro]" >&2; exit 2 ;;
    esac
done
runs=${TASK_BENCH_RUNS:-$([[ $quick -eq 1 ]] && echo 3 || echo 5)}
secs=${TASK_BENCH_SECS:-$([[ $quick -eq 1 ]] && echo 1 || echo 5)}
cg_secs=${TASK_BENCH_CG_SECS:-$([[ $quick -eq 1 ]] && echo 2 || echo 6)}
n_await=${TASK_BENCH_AWAITS:-20000000}
n_spawn=${TASK_BENCH_SPAWNS:-200000}
tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

: >"$tmp/cargo.json"
if [[ $micro -eq 1 ]]; then
    log "building (release): task_workloads"
    build_bench_tools "$root" "$tmp/cargo.json" task_workloads 2>"$tmp/cargo.err" ||
        { tail -n 20 "$tmp/cargo.err" >&2; exit 1; }
else
    log "building (release): task_workloads, tokio_echo, tokio_hyper, net_client, examples echo and hyper"
    build_bench_tools "$root" "$tmp/cargo.json" task_workloads tokio_echo tokio_hyper net_client \
        2>"$tmp/cargo.err" || { tail -n 20 "$tmp/cargo.err" >&2; exit 1; }
    (cd "$root" && timeout 1200 cargo build --release --features hyper --example echo --example hyper \
        --message-format=json) >>"$tmp/cargo.json" 2>"$tmp/cargo.err" ||
        { tail -n 20 "$tmp/cargo.err" >&2; exit 1; }
    tokio_echo=$(artifact "$tmp/cargo.json" tokio_echo)
    tokio_hyper=$(artifact "$tmp/cargo.json" tokio_hyper)
    client=$(artifact "$tmp/cargo.json" net_client)
    echo_bin=$(artifact "$tmp/cargo.json" echo)
    hyper_bin=$(artifact "$tmp/cargo.json" hyper)
fi
workloads=$(artifact "$tmp/cargo.json" task_workloads)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $load_before ($(nproc) CPUs)"

pin_server=(taskset -c 0)
pin_client=(taskset -c 1)
if ! taskset -c 0,1 true 2>/dev/null; then
    log "not pinning: taskset -c 0,1 is unavailable"
    pin_server=()
    pin_client=()
fi
clk_tck=$(getconf CLK_TCK)

# --- micro-benchmarks ------------------------------------------------------------------------
# Each round appends one line per workload: "<evloop> <peer...>" in ns per op.
have_node=1
command -v node >/dev/null || { have_node=0; log "node: not installed, its column is n/a"; }
nsop() { sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p'; }
for ((r = 1; r <= runs; r++)); do
    log "round $r/$runs: await chain and spawn (evloop, tokio, node interleaved)"
    a_ev=$("${pin_server[@]}" "$workloads" await --side evloop --n "$n_await" | nsop)
    a_tk=$("${pin_server[@]}" "$workloads" await --side tokio --n "$n_await" | nsop)
    a_nd=0
    if [[ $have_node -eq 1 ]]; then
        a_nd=$("${pin_server[@]}" node "$here/peers/node/await_chain.js" "$n_await" | nsop)
    fi
    echo "$a_ev $a_tk $a_nd" >>"$tmp/await"
    s_ev=$("${pin_server[@]}" "$workloads" spawn --side evloop --n "$n_spawn" | nsop)
    s_tk=$("${pin_server[@]}" "$workloads" spawn --side tokio --n "$n_spawn" | nsop)
    echo "$s_ev $s_tk" >>"$tmp/spawn"
done

# callgrind: instructions per op = (I(2n) - I(n)) / n.
instr() {
    local mode=$1 side=$2 n=$3 out
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$workloads" "$mode" \
        --side "$side" --n "$n" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p; s/.*refs: *\([0-9,]*\).*/\1/p' |
        tr -d , | head -n 1)
    echo "${out:-0}"
}
per_op() {
    local mode=$1 side=$2 n=$3 a b
    a=$(instr "$mode" "$side" "$n")
    b=$(instr "$mode" "$side" $((2 * n)))
    awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { if (a > 0 && b > a) printf "%.0f", (b - a) / n; else print "n/a" }'
}
have_cg=0
if command -v valgrind >/dev/null || need_valgrind; then have_cg=1; fi
ci_await_ev=n/a ci_await_tk=n/a ci_spawn_ev=n/a ci_spawn_tk=n/a
if [[ $have_cg -eq 1 ]]; then
    log "callgrind: instructions per await and per spawn"
    ci_await_ev=$(per_op await evloop 100000)
    ci_await_tk=$(per_op await tokio 100000)
    ci_spawn_ev=$(per_op spawn evloop 50000)
    ci_spawn_tk=$(per_op spawn tokio 50000)
fi

# --- servers -----------------------------------------------------------------------------------
if [[ $micro -eq 0 ]]; then
server_pid=
server_addr=
# start_server <cmd...>: starts it pinned; sets server_pid and server_addr.
start_server() {
    : >"$tmp/server.out"
    "${pin_server[@]}" "$@" >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    pids+=("$server_pid")
    local i
    server_addr=
    for ((i = 0; i < 600; i++)); do
        server_addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$tmp/server.out" | head -n 1)
        [[ -z $server_addr ]] || return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    log "    server did not start: $*"
    tail -n 5 "$tmp/server.err" >&2
    return 1
}
stop_server() {
    kill -TERM "$server_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}
server_ticks() { sed 's/.*) //' "/proc/$server_pid/stat" | awk '{ print $12 + $13 }'; }

# echo_load <secs>: 100 x 1 KiB ping-pong against $server_addr; prints "ops rate".
echo_load() {
    local out
    out=$("${pin_client[@]}" "$client" pingpong --addr "$server_addr" --conns 100 --size 1024 \
        --secs "$1" 2>>"$tmp/client.err" || true)
    awk -v out="$out" 'BEGIN { split(out, f, " "); ops = 0; rate = 0
        for (i in f) { split(f[i], kv, "="); if (kv[1] == "ops") ops = kv[2]; if (kv[1] == "rate") rate = kv[2] }
        print ops, rate }'
}
# wrk_load <secs> <conns>: wrk -t1 against $server_addr; prints "requests req_per_s".
wrk_load() {
    "${pin_client[@]}" wrk -t1 -c"$2" -d"$1s" "http://$server_addr/" 2>&1 | awk '
        /requests in/ { total = $1 }
        /Requests\/sec/ { rate = $2 }
        /Non-2xx|Socket errors/ { print "wrk: " $0 > "/dev/stderr" }
        END { printf "%d %.0f\n", total, rate }'
}

# measure <kind echo|wrk> <cmd...>: one round; prints "rate per_cpu_s".
measure() {
    local kind=$1 t0 t1 out
    shift
    start_server "$@" || { echo "0 0"; return; }
    t0=$(server_ticks)
    if [[ $kind == echo ]]; then out=$(echo_load "$secs"); else out=$(wrk_load "$secs" 100); fi
    t1=$(server_ticks)
    stop_server
    awk -v out="$out" -v t0="$t0" -v t1="$t1" -v hz="$clk_tck" 'BEGIN {
        split(out, f, " "); cpu = (t1 - t0) / hz
        printf "%.0f %.0f\n", f[2], (cpu > 0 ? f[1] / cpu : 0) }'
}

# cg_server <kind> <cmd...>: the server under callgrind for cg_secs of load (fewer clients:
# it runs ~50x slower); prints instructions per round trip / request.
cg_server() {
    local kind=$1 total ops
    shift
    start_server valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$@" || { echo n/a; return; }
    sleep 1
    if [[ $kind == echo ]]; then
        ops=$("${pin_client[@]}" "$client" pingpong --addr "$server_addr" --conns 10 --size 1024 \
            --secs "$cg_secs" 2>>"$tmp/client.err" | sed -n 's/.*ops=\([0-9]*\).*/\1/p')
    else
        ops=$(wrk_load "$cg_secs" 10 | cut -d' ' -f1)
    fi
    stop_server
    total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/server.err" | tail -n 1)
    awk -v t="${total:-0}" -v n="${ops:-0}" 'BEGIN { if (t > 0 && n > 0) printf "%.0f", t / n; else print "n/a" }'
}

have_wrk=1
command -v wrk >/dev/null || { have_wrk=0; log "wrk: not installed, hyper rows are n/a"; }
for ((r = 1; r <= runs; r++)); do
    log "round $r/$runs: echo (async, callbacks, tokio) and hyper (evloop, tokio), interleaved"
    {
        echo "$(measure echo "$echo_bin" --addr 127.0.0.1:0 --async)" \
            "$(measure echo "$echo_bin" --addr 127.0.0.1:0)" \
            "$(measure echo "$tokio_echo" --addr 127.0.0.1:0)"
    } >>"$tmp/echo"
    if [[ $have_wrk -eq 1 ]]; then
        echo "$(measure wrk "$hyper_bin" --addr 127.0.0.1:0)" \
            "$(measure wrk "$tokio_hyper" --addr 127.0.0.1:0)" >>"$tmp/wrk"
    fi
done
ci_echo_as=n/a ci_echo_cb=n/a ci_echo_tk=n/a ci_hyper_ev=n/a ci_hyper_tk=n/a
if [[ $have_cg -eq 1 ]]; then
    log "callgrind: instructions per echo round trip and per hyper request"
    ci_echo_as=$(cg_server echo "$echo_bin" --addr 127.0.0.1:0 --async)
    ci_echo_cb=$(cg_server echo "$echo_bin" --addr 127.0.0.1:0)
    ci_echo_tk=$(cg_server echo "$tokio_echo" --addr 127.0.0.1:0)
    if [[ $have_wrk -eq 1 ]]; then
        ci_hyper_ev=$(cg_server wrk "$hyper_bin" --addr 127.0.0.1:0)
        ci_hyper_tk=$(cg_server wrk "$tokio_hyper" --addr 127.0.0.1:0)
    fi
fi
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- tables ------------------------------------------------------------------------------------
# ratios <file> <num col> <den col>: per-round num/den; prints "median (min–max)".
ratios() {
    awk -v a="$2" -v b="$3" '$a > 0 && $b > 0 { print $a / $b }' "$1" | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "n/a"; exit }
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.2f× (%.2f–%.2f)\n", m, v[1], v[NR] }'
}
# median <file> <col>
median() {
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "n/a"; exit }
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f\n", m }'
}
median2() {
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "n/a"; exit }
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f\n", m }'
}

echo
echo "Load average: $load_before before, $load_after after ($(nproc) CPUs); $runs interleaved rounds."
echo
echo "| workload | evloop (median) | peer (median) | evloop vs peer, median of per-round ratios (min–max); higher is better | instructions per op, evloop / peer |"
echo "|---|---|---|---|---|"
echo "| await chain, ns per await (N=$n_await) | $(median2 "$tmp/await" 1) | Node $(median2 "$tmp/await" 3) | $(ratios "$tmp/await" 3 1) | $ci_await_ev / n/a (JIT) |"
echo "| await chain, ns per await | $(median2 "$tmp/await" 1) | tokio LocalSet $(median2 "$tmp/await" 2) | $(ratios "$tmp/await" 2 1) | $ci_await_ev / $ci_await_tk |"
echo "| spawn and complete, ns per task (N=$n_spawn) | $(median2 "$tmp/spawn" 1) | tokio spawn_local $(median2 "$tmp/spawn" 2) | $(ratios "$tmp/spawn" 2 1) | $ci_spawn_ev / $ci_spawn_tk |"
[[ $micro -eq 1 ]] && exit 0
echo
echo "| echo, 100 × 1 KiB ping-pong | round trips/s (median) | per server CPU-second (median) | \`--async\` vs this: round trips/s; per CPU-second | instructions per round trip |"
echo "|---|---|---|---|---|"
echo "| evloop \`echo --async\` | $(median "$tmp/echo" 1) | $(median "$tmp/echo" 2) | — | $ci_echo_as |"
echo "| evloop \`echo\` (callbacks) | $(median "$tmp/echo" 3) | $(median "$tmp/echo" 4) | $(ratios "$tmp/echo" 1 3); $(ratios "$tmp/echo" 2 4) | $ci_echo_cb |"
echo "| tokio current_thread echo | $(median "$tmp/echo" 5) | $(median "$tmp/echo" 6) | $(ratios "$tmp/echo" 1 5); $(ratios "$tmp/echo" 2 6) | $ci_echo_tk |"
if [[ $have_wrk -eq 1 ]]; then
    echo
    echo "| hyper, \`wrk -t1 -c100\` on / | req/s (median) | per server CPU-second (median) | instructions per request |"
    echo "|---|---|---|---|"
    echo "| hyper on evloop (\`examples/hyper\`) | $(median "$tmp/wrk" 1) | $(median "$tmp/wrk" 2) | $ci_hyper_ev |"
    echo "| hyper on tokio current_thread | $(median "$tmp/wrk" 3) | $(median "$tmp/wrk" 4) | $ci_hyper_tk |"
    echo "| evloop vs tokio, median of per-round ratios (min–max) | $(ratios "$tmp/wrk" 1 3) | $(ratios "$tmp/wrk" 2 4) | |"
fi
