#!/usr/bin/env bash
# Futures benchmarks (evloop::task) against their peers, measured in one run:
#
#   bash benches/task_bench.sh [--quick]
#
# - await chain: one task awaiting N futures that each complete after one wake, vs Node's async
#   function awaiting N times (`await null`), and tokio (current-thread LocalSet) for reference;
# - spawn-and-complete: N tasks spawned then run to completion, vs tokio's
#   `LocalSet::spawn_local`;
# - echo: `examples/echo --async` vs `examples/echo` (callbacks) vs a tokio current-thread echo
#   (benches/tools/src/bin/tokio_echo.rs), 100 connections ping-ponging 1 KiB (net_client);
# - hyper: `examples/hyper` (hyper on evloop) vs the same service on hyper + tokio
#   current-thread (tokio_hyper), `wrk -t1 -c100`.
# Servers run pinned to CPU 0, clients to CPU 1; RUNS rounds (default 3) interleave the sides;
# the best round counts; for servers the CPU time (utime + stime from /proc) gives work per
# server CPU-second. Instruction counts (callgrind) back the micro-benchmarks: per await and
# per spawn, from the difference of two runs (N and 2N), so start-up cancels out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=benches/common.sh
source "$here/common.sh"

quick=0
[[ ${1:-} == --quick ]] && quick=1
runs=${TASK_BENCH_RUNS:-3}
secs=${TASK_BENCH_SECS:-$([[ $quick -eq 1 ]] && echo 1 || echo 5)}
n_await=${TASK_BENCH_AWAITS:-2000000}
n_spawn=${TASK_BENCH_SPAWNS:-200000}
tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

log "building (release): task_workloads, tokio_echo, tokio_hyper, net_client, examples echo and hyper"
: >"$tmp/cargo.json"
build_bench_tools "$root" "$tmp/cargo.json" task_workloads tokio_echo tokio_hyper net_client \
    2>"$tmp/cargo.err" || { tail -n 20 "$tmp/cargo.err" >&2; exit 1; }
(cd "$root" && timeout 1200 cargo build --release --features hyper --example echo --example hyper \
    --message-format=json) >>"$tmp/cargo.json" 2>"$tmp/cargo.err" ||
    { tail -n 20 "$tmp/cargo.err" >&2; exit 1; }
workloads=$(artifact "$tmp/cargo.json" task_workloads)
tokio_echo=$(artifact "$tmp/cargo.json" tokio_echo)
tokio_hyper=$(artifact "$tmp/cargo.json" tokio_hyper)
client=$(artifact "$tmp/cargo.json" net_client)
echo_bin=$(artifact "$tmp/cargo.json" echo)
hyper_bin=$(artifact "$tmp/cargo.json" hyper)

pin_server=(taskset -c 0)
pin_client=(taskset -c 1)
if ! taskset -c 0,1 true 2>/dev/null; then
    log "not pinning: taskset -c 0,1 is unavailable"
    pin_server=()
    pin_client=()
fi
clk_tck=$(getconf CLK_TCK)

# best <file>: the smallest number in it.
best_min() { sort -g "$1" | head -n 1; }
best_max() { sort -g "$1" | tail -n 1; }

# --- micro-benchmarks ------------------------------------------------------------------------
have_node=1
command -v node >/dev/null || { have_node=0; log "node: not installed, its column is n/a"; }
for ((r = 1; r <= runs; r++)); do
    log "round $r/$runs: await chain and spawn"
    for side in evloop tokio; do
        "${pin_server[@]}" "$workloads" await --side "$side" --n "$n_await" |
            sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p' >>"$tmp/await.$side"
        "${pin_server[@]}" "$workloads" spawn --side "$side" --n "$n_spawn" |
            sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p' >>"$tmp/spawn.$side"
    done
    if [[ $have_node -eq 1 ]]; then
        "${pin_server[@]}" node "$here/peers/node/await_chain.js" "$n_await" |
            sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p' >>"$tmp/await.node"
    fi
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
if command -v valgrind >/dev/null || need_valgrind; then
    log "callgrind: instructions per await and per spawn"
    ci_await_ev=$(per_op await evloop 100000)
    ci_await_tk=$(per_op await tokio 100000)
    ci_spawn_ev=$(per_op spawn evloop 50000)
    ci_spawn_tk=$(per_op spawn tokio 50000)
else
    ci_await_ev=n/a ci_await_tk=n/a ci_spawn_ev=n/a ci_spawn_tk=n/a
fi

# --- servers -----------------------------------------------------------------------------------
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
    for ((i = 0; i < 200; i++)); do
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
    sleep 0.2
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}
server_ticks() { sed 's/.*) //' "/proc/$server_pid/stat" | awk '{ print $12 + $13 }'; }

# run_echo <name> <cmd...>: one round of 100 x 1 KiB ping-pong; appends "rate per_cpu_s".
run_echo() {
    local name=$1 t0 t1 out
    shift
    start_server "$@" || { echo "0 0" >>"$tmp/echo.$name"; return; }
    t0=$(server_ticks)
    out=$("${pin_client[@]}" "$client" pingpong --addr "$server_addr" --conns 100 --size 1024 \
        --secs "$secs" 2>>"$tmp/client.err" || true)
    t1=$(server_ticks)
    stop_server
    awk -v out="$out" -v t0="$t0" -v t1="$t1" -v hz="$clk_tck" 'BEGIN {
        split(out, f, " "); ops = 0; rate = 0
        for (i in f) { split(f[i], kv, "="); if (kv[1] == "ops") ops = kv[2]; if (kv[1] == "rate") rate = kv[2] }
        cpu = (t1 - t0) / hz; printf "%.0f %.0f\n", rate, (cpu > 0 ? ops / cpu : 0) }' >>"$tmp/echo.$name"
}

# run_wrk <name> <cmd...>: one round of wrk -t1 -c100; appends "req_per_s per_cpu_s".
run_wrk() {
    local name=$1 t0 t1 out
    shift
    start_server "$@" || { echo "0 0" >>"$tmp/wrk.$name"; return; }
    t0=$(server_ticks)
    out=$("${pin_client[@]}" wrk -t1 -c100 -d"${secs}s" "http://$server_addr/" 2>&1 || true)
    t1=$(server_ticks)
    stop_server
    awk -v t0="$t0" -v t1="$t1" -v hz="$clk_tck" '
        /requests in/ { total = $1 }
        /Requests\/sec/ { rate = $2 }
        /Non-2xx|Socket errors/ { print "wrk: " $0 > "/dev/stderr" }
        END { cpu = (t1 - t0) / hz; printf "%.0f %.0f\n", rate, (cpu > 0 ? total / cpu : 0) }' \
        <<<"$out" >>"$tmp/wrk.$name"
}

have_wrk=1
command -v wrk >/dev/null || { have_wrk=0; log "wrk: not installed, hyper rows are n/a"; }
for ((r = 1; r <= runs; r++)); do
    log "round $r/$runs: echo (callbacks, async, tokio) and hyper (evloop, tokio)"
    run_echo callbacks "$echo_bin" --addr 127.0.0.1:0
    run_echo async "$echo_bin" --addr 127.0.0.1:0 --async
    run_echo tokio "$tokio_echo" --addr 127.0.0.1:0
    if [[ $have_wrk -eq 1 ]]; then
        run_wrk evloop "$hyper_bin" --addr 127.0.0.1:0
        run_wrk tokio "$tokio_hyper" --addr 127.0.0.1:0
    fi
done

# --- tables ------------------------------------------------------------------------------------
col() { awk -v c="$2" '{ print $c }' "$1" | sort -g | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f×", a / b; else print "n/a" }'; }

aw_ev=$(best_min "$tmp/await.evloop")
aw_tk=$(best_min "$tmp/await.tokio")
aw_nd=$([[ -s $tmp/await.node ]] && best_min "$tmp/await.node" || echo 0)
sp_ev=$(best_min "$tmp/spawn.evloop")
sp_tk=$(best_min "$tmp/spawn.tokio")
echo
echo "| workload | evloop | peer | evloop vs peer (higher is better) | instructions per op, evloop / peer |"
echo "|---|---|---|---|---|"
echo "| await chain, ns per await (N=$n_await) | $aw_ev | Node $aw_nd | $(ratio "$aw_nd" "$aw_ev") | $ci_await_ev / n/a |"
echo "| await chain, ns per await | $aw_ev | tokio LocalSet $aw_tk | $(ratio "$aw_tk" "$aw_ev") | $ci_await_ev / $ci_await_tk |"
echo "| spawn and complete, ns per task (N=$n_spawn) | $sp_ev | tokio spawn_local $sp_tk | $(ratio "$sp_tk" "$sp_ev") | $ci_spawn_ev / $ci_spawn_tk |"
echo
e_cb=$(col "$tmp/echo.callbacks" 1) e_cb_cpu=$(col "$tmp/echo.callbacks" 2)
e_as=$(col "$tmp/echo.async" 1) e_as_cpu=$(col "$tmp/echo.async" 2)
e_tk=$(col "$tmp/echo.tokio" 1) e_tk_cpu=$(col "$tmp/echo.tokio" 2)
echo "| echo, 100 × 1 KiB ping-pong | round trips/s | per server CPU-second | async vs this, per CPU-second |"
echo "|---|---|---|---|"
echo "| evloop \`echo --async\` | $e_as | $e_as_cpu | — |"
echo "| evloop \`echo\` (callbacks) | $e_cb | $e_cb_cpu | $(ratio "$e_as_cpu" "$e_cb_cpu") |"
echo "| tokio current_thread echo | $e_tk | $e_tk_cpu | $(ratio "$e_as_cpu" "$e_tk_cpu") |"
if [[ $have_wrk -eq 1 ]]; then
    h_ev=$(col "$tmp/wrk.evloop" 1) h_ev_cpu=$(col "$tmp/wrk.evloop" 2)
    h_tk=$(col "$tmp/wrk.tokio" 1) h_tk_cpu=$(col "$tmp/wrk.tokio" 2)
    echo
    echo "| hyper, \`wrk -t1 -c100\` on / | req/s | per server CPU-second |"
    echo "|---|---|---|"
    echo "| hyper on evloop (\`examples/hyper\`) | $h_ev | $h_ev_cpu |"
    echo "| hyper on tokio current_thread | $h_tk | $h_tk_cpu |"
    echo "| evloop vs tokio | $(ratio "$h_ev" "$h_tk") | $(ratio "$h_ev_cpu" "$h_tk_cpu") |"
fi
