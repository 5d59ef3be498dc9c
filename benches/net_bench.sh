#!/usr/bin/env bash
# Networking benchmarks: evloop's echo server against libuv, Node and a raw mio loop, all driven
# by the same client (net_client in benches/tools), plus tcp_write_batch and memory per idle
# connection. The libuv echo is the static-buffer `uv_try_write` one (echo_server_static.c).
# For the echo figures themselves prefer benches/echo_rounds.sh: interleaved short rounds,
# median ratios with their spread, and per-round-trip counts.
#
#   bash benches/net_bench.sh [--quick] [case...]
#
# Cases: pingpong_{1,100}x{64,1024,16384}, pound_100, pump, idle (memory per idle connection),
# tcp_write_batch. Each server runs pinned to CPU 0 and the client to CPU 1 (taskset); every
# server is started afresh for every run of a case, 3 runs per case interleaved across the
# servers, best run counts. The server's CPU time (utime + stime from /proc/PID/stat) is read
# around each run, so the table gives both the raw rate and the work per server CPU-second.
# --quick runs each case for 1 s instead of 5 s. NET_BENCH_RUNS, NET_BENCH_SECS and
# NET_BENCH_IDLE_CONNS override the run count, seconds per run and idle connections.
# The ping-pong client busy-polls on its own core (`--spin`), so a single connection's rate
# is the server's wake-up and work, not the client's sleep; NET_BENCH_SPIN=0 lets it sleep.
# Progress goes to stderr, the tables to stdout. Exit status 1 if a program failed (crash,
# timeout, bad output), else 0; a MISS is not a failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
peers=$here/peers
build=$peers/build
sides=(evloop libuv node mio)
all_cases=(pingpong_1x64 pingpong_1x1024 pingpong_1x16384 pingpong_100x64 pingpong_100x1024
    pingpong_100x16384 pound_100 pump idle tcp_write_batch)

# shellcheck source=benches/common.sh
source "$here/common.sh"

usage() {
    cat <<EOF
usage: bash benches/net_bench.sh [--quick] [case...]
  --quick   1 s per run instead of 5 s (smoke runs)
cases (default: all): ${all_cases[*]}
EOF
}

quick=0
cases=()
for arg in "$@"; do
    case $arg in
        --quick) quick=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; exit 2 ;;
        *)
            if [[ " ${all_cases[*]} " != *" $arg "* ]]; then
                log "unknown case: $arg"
                usage >&2
                exit 2
            fi
            cases+=("$arg")
            ;;
    esac
done
[[ ${#cases[@]} -gt 0 ]] || cases=("${all_cases[@]}")
runs=${NET_BENCH_RUNS:-3}
secs=${NET_BENCH_SECS:-$([[ $quick -eq 1 ]] && echo 1 || echo 5)}
idle_conns=${NET_BENCH_IDLE_CONNS:-10000}
quick_flag=()
[[ $quick -eq 0 ]] || quick_flag=(--quick)
spin_flag=()
[[ ${NET_BENCH_SPIN:-1} -eq 0 ]] || spin_flag=(--spin)

# 10 000 idle connections need 10 000 fds in the server and as many in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $((idle_conns + 100)) ]]; then
    log "fd limit $(ulimit -n) < $idle_conns idle connections + 100: idle uses $(($(ulimit -n) - 100))"
    idle_conns=$(($(ulimit -n) - 100))
fi

# --- cleanup: every process we start is killed on exit ---------------------------------------
tmp=$(mktemp -d)
pids=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local pid
    exec 3>&- 2>/dev/null || true
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------------------------
# Prints the executable cargo built for target $2 from the JSON messages in file $1.

build_net_bins "$root" "$tmp"

build_c_peers "$build" echo_server_static tcp_write_batch
node_ok=1
command -v node >/dev/null || { node_ok=0; log "node: n/a (no node on PATH)"; }

# The argv that starts a side's echo server on a kernel-chosen port; empty if it is missing.
server_cmd=()
set_server() {
    server_cmd=()
    case $1 in
        evloop) server_cmd=("$evloop_echo" --addr 127.0.0.1:0 --threads 1) ;;
        libuv) [[ ! -x $build/echo_server_static ]] || server_cmd=("$build/echo_server_static" --addr 127.0.0.1:0) ;;
        node) [[ $node_ok -eq 0 ]] || server_cmd=(node "$peers/node/echo_server.js" --addr 127.0.0.1:0) ;;
        mio) server_cmd=("$mio_bin" --addr 127.0.0.1:0) ;;
    esac
}

pin_server=(taskset -c 0)
pin_client=(taskset -c 1)
if ! taskset -c 0,1 true 2>/dev/null; then
    log "not pinning: taskset -c 0,1 is unavailable"
    pin_server=()
    pin_client=()
fi
clk_tck=$(getconf CLK_TCK)

# --- one server --------------------------------------------------------------------------------
server_pid=
server_addr=
# Starts server side $1; sets server_pid (the server itself, not `timeout`) and server_addr.
start_server() {
    set_server "$1"
    [[ ${#server_cmd[@]} -gt 0 ]] || return 2
    : >"$tmp/server.out"
    timeout 900 "${pin_server[@]}" "${server_cmd[@]}" >"$tmp/server.out" 2>"$tmp/server.err" &
    local wrapper=$! i
    pids+=("$wrapper")
    server_addr=
    for ((i = 0; i < 200; i++)); do
        server_addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$tmp/server.out" | head -n 1)
        [[ -z $server_addr ]] || break
        kill -0 "$wrapper" 2>/dev/null || break
        sleep 0.05
    done
    server_pid=$(pgrep -P "$wrapper" | head -n 1 || true)
    if [[ -z $server_addr || -z $server_pid ]]; then
        log "    $1 server did not start:"
        tail -n 5 "$tmp/server.err" | sed 's/^/    /' >&2
        kill -KILL "$wrapper" 2>/dev/null || true
        return 1
    fi
    pids+=("$server_pid")
}

# SIGTERM, then SIGKILL if it is still there after 5 s.
stop_server() {
    local i
    kill -TERM "$server_pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}

# The server's CPU time so far, in clock ticks (utime + stime of all its threads).
server_ticks() {
    sed 's/.*) //' "/proc/$server_pid/stat" | awk '{ print $12 + $13 }'
}

# The server's resident memory in KiB.
server_rss() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"
}

# --- results -----------------------------------------------------------------------------------
# shellcheck disable=SC2034 # eff is read through the nameref in table()
declare -A rate=() eff=()
failed=0

# Keeps the larger of $2 and the stored value under key $1 in array `rate` or `eff` ($3).
keep_max() {
    local -n arr=$3
    if [[ -z ${arr[$1]+set} || ${arr[$1]} == FAIL ]] ||
        awk -v a="$2" -v b="${arr[$1]}" 'BEGIN { exit !(a > b) }'; then
        arr[$1]=$2
    fi
}

# Runs the client for case $1 against the running server; records rate and per-CPU-second work.
run_client_case() {
    local case=$1 side=$2 args=() out status=0 t0 t1 ticks
    case $case in
        pingpong_*)
            local shape=${case#pingpong_}
            args=(pingpong --conns "${shape%x*}" --size "${shape#*x}" "${spin_flag[@]}")
            ;;
        pound_*) args=(pound --conns "${case#pound_}") ;;
        pump) args=(pump) ;;
    esac
    t0=$(server_ticks)
    out=$(timeout $((secs + 30)) "${pin_client[@]}" "$client" "${args[@]}" --addr "$server_addr" \
        --secs "$secs" 2>"$tmp/client.err") || status=$?
    t1=$(server_ticks)
    if [[ $status -ne 0 || ! $out =~ ^workload=[a-z0-9_]+\ ops=([0-9]+)\ secs=([0-9.]+)\ rate=([0-9.eE+-]+)$ ]]; then
        log "    client failed (status $status): ${out:0:200}"
        tail -n 5 "$tmp/client.err" | sed 's/^/    /' >&2
        return 1
    fi
    local ops=${BASH_REMATCH[1]} r=${BASH_REMATCH[3]}
    ticks=$((t1 - t0))
    local cpu_s
    cpu_s=$(awk -v t="$ticks" -v hz="$clk_tck" 'BEGIN { printf "%.2f", t / hz }')
    log "    $r ops/s, server CPU ${cpu_s}s"
    keep_max "$case:$side" "$r" rate
    if [[ $ticks -gt 0 ]]; then
        keep_max "$case:$side" "$(awk -v o="$ops" -v t="$ticks" -v hz="$clk_tck" 'BEGIN { print o / (t / hz) }')" eff
    fi
}

# Memory: server RSS before and after `idle_conns` pinged, held connections; KiB per connection.
run_idle() {
    local side=$1 rss0 rss1 held i status=0
    rss0=$(server_rss)
    rm -f "$tmp/hold" "$tmp/idle.out"
    mkfifo "$tmp/hold"
    timeout 600 "${pin_client[@]}" "$client" idle --conns "$idle_conns" --addr "$server_addr" \
        --secs 300 <"$tmp/hold" >"$tmp/idle.out" 2>"$tmp/client.err" &
    local cpid=$!
    pids+=("$cpid")
    # Read-write, so opening never blocks; the client holds its connections until this closes.
    exec 3<>"$tmp/hold"
    held=
    for ((i = 0; i < 3000; i++)); do
        held=$(sed -n 's/^ready conns=\([0-9]*\)$/\1/p' "$tmp/idle.out")
        [[ -z $held ]] || break
        kill -0 "$cpid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -z $held ]] || { sleep 0.5; rss1=$(server_rss); }
    exec 3>&-
    wait "$cpid" || status=$?
    if [[ -z $held || $held -eq 0 || $status -ne 0 ]]; then
        log "    idle client failed (status $status)"
        tail -n 5 "$tmp/client.err" | sed 's/^/    /' >&2
        return 1
    fi
    [[ $held -eq $idle_conns ]] || log "    only $held of $idle_conns connections"
    local per
    per=$(awk -v a="$rss0" -v b="$rss1" -v n="$held" 'BEGIN { printf "%.3f", (b - a) / n }')
    log "    RSS ${rss0} -> ${rss1} KiB over $held connections: $per KiB each"
    held_conns=$held
    # Lower is better: keep the smallest (stored negated so keep_max works).
    keep_max "idle:$side" "$(awk -v p="$per" 'BEGIN { print -p }')" rate
}
held_conns=$idle_conns

# tcp_write_batch: the same output contract as benches/peers/run.sh; not a server workload.
run_write_batch() {
    local side=$1 cmd=() out status=0
    case $side in
        evloop) cmd=("$peer_workloads") ;;
        libuv) [[ ! -x $build/tcp_write_batch ]] || cmd=("$build/tcp_write_batch") ;;
        *) return 2 ;;
    esac
    [[ ${#cmd[@]} -gt 0 ]] || return 2
    out=$(timeout 120 taskset -c 0,1 "${cmd[@]}" tcp_write_batch "${quick_flag[@]}" 2>"$tmp/client.err") ||
        status=$?
    if [[ $status -ne 0 || ! $out =~ ^workload=tcp_write_batch\ ops=[0-9]+\ secs=[0-9.]+\ rate=([0-9.eE+-]+)$ ]]; then
        log "    failed (status $status): ${out:0:200}"
        tail -n 5 "$tmp/client.err" | sed 's/^/    /' >&2
        return 1
    fi
    log "    ${BASH_REMATCH[1]} writes/s"
    keep_max "tcp_write_batch:$side" "${BASH_REMATCH[1]}" rate
}

for case in "${cases[@]}"; do
    for ((r = 1; r <= runs; r++)); do
        for side in "${sides[@]}"; do
            [[ ${rate[$case:$side]:-} != FAIL ]] || continue
            # tcp_write_batch has no Node or mio program.
            [[ $case != tcp_write_batch || $side == evloop || $side == libuv ]] || continue
            log "$case: $side (run $r of $runs)"
            status=0
            if [[ $case == tcp_write_batch ]]; then
                run_write_batch "$side" || status=$?
            else
                start_server "$side" || status=$?
                if [[ $status -eq 0 ]]; then
                    if [[ $case == idle ]]; then
                        run_idle "$side" || status=$?
                    else
                        run_client_case "$case" "$side" || status=$?
                    fi
                    stop_server
                fi
            fi
            if [[ $status -eq 2 ]]; then
                log "    n/a"
            elif [[ $status -ne 0 ]]; then
                rate[$case:$side]=FAIL
                failed=1
            fi
        done
    done
done

# --- tables ------------------------------------------------------------------------------------
# Each case's targets: "peer op ratio" items, evloop/peer compared with op (>= higher is better,
# <= lower is better); the issue's targets.
targets_of() {
    case $1 in
        pingpong_*) echo "libuv >= 1.0,node >= 1.5,mio >= 0.9" ;;
        pound_*) echo "libuv >= 1.0" ;;
        idle) echo "libuv <= 1.0,node <= 0.2" ;;
        tcp_write_batch) echo "libuv >= 1.0" ;;
        *) echo "" ;;
    esac
}

# One table: $1 = rate or eff. Rows: case, 4 values, 3 ratios, targets, result.
table() {
    local which=$1 case side
    local -n values=$which
    for case in "${cases[@]}"; do
        [[ $which == rate || ( $case != idle && $case != tcp_write_batch ) ]] || continue
        printf '%s' "$case"
        for side in "${sides[@]}"; do printf '\t%s' "${values[$case:$side]:-}"; done
        printf '\t%s\n' "$(targets_of "$case")"
    done | awk -F'\t' -v OFS='\t' '
        function human(c, r) {
            if (r == "") return "n/a"
            if (r == "FAIL") return r
            if (c == "idle") return sprintf("%.0fB", -r * 1024)
            if (c == "pump") return sprintf("%.0fM", r / 1048576)
            if (r >= 1e6) return sprintf("%.2fM", r / 1e6)
            if (r >= 1e3) return sprintf("%.1fk", r / 1e3)
            return sprintf("%.0f", r)
        }
        function ratio(a, b) {
            if (a == "" || b == "" || a == "FAIL" || b == "FAIL" || b == 0) return ""
            return a / b
        }
        function shown(x) { return x == "" ? "-" : sprintf("%.2f", x) }
        {
            split("evloop libuv node mio", side_name, " ")
            for (i = 2; i <= 5; i++) v[side_name[i - 1]] = $i
            r["libuv"] = ratio($2, $3); r["node"] = ratio($2, $4); r["mio"] = ratio($2, $5)
            result = ""; nt = split($6, t, ",")
            for (i = 1; i <= nt; i++) {
                split(t[i], p, " ")
                got = r[p[1]]
                if (got == "") { verdict = "n/a" }
                else if (p[2] == ">=") { verdict = (got >= p[3]) ? "PASS" : "MISS" }
                else { verdict = (got <= p[3]) ? "PASS" : "MISS" }
                result = result (result == "" ? "" : " ") p[1] ":" verdict
            }
            targets = $6; gsub(/ /, "", targets)
            print $1, human($1, $2), human($1, $3), human($1, $4), human($1, $5),
                shown(r["libuv"]), shown(r["node"]), shown(r["mio"]),
                (targets == "" ? "-" : targets), (result == "" ? "-" : result)
        }'
}

print_table() {
    awk -F'\t' '{ printf "%-18s %8s %8s %8s %8s %8s %8s %8s  %-36s %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
}

libuv_version=$(awk '/define UV_VERSION_(MAJOR|MINOR|PATCH)/ { v = v sep $3; sep = "." } END { print v }' \
    /usr/include/uv/version.h 2>/dev/null || true)
header=$'case\tevloop\tlibuv\tnode\tmio\tev/libuv\tev/node\tev/mio\ttargets\tresult'
echo "best of $runs runs; ${secs}s per run; server on CPU 0, client on CPU 1; libuv ${libuv_version:-n/a}; node $([[ $node_ok -eq 1 ]] && node --version || echo n/a); $held_conns idle connections"
echo
echo "Rates: round trips/s (pingpong), connections/s (pound), MiB/s (pump), bytes of server RSS per idle connection (idle, lower is better), writes/s (tcp_write_batch)"
{ printf '%s\n' "$header"; table rate; } | print_table
echo
echo "Work per server CPU-second (ops / (utime + stime) of the server over the run)"
{ printf '%s\n' "$header"; table eff; } | print_table
exit "$failed"
