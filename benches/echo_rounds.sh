#!/usr/bin/env bash
# Echo against the strongest peers, by a method whose spread is smaller than the effect: many
# short rounds with the servers interleaved, the median of per-round ratios with its min-max
# spread, and deterministic per-round-trip figures beside them.
#
#   bash benches/echo_rounds.sh [--rounds N] [--secs S] [--quick] [--no-counts] [--counts-only]
#                               [--clients sleep,spin] [--servers LIST] [case...]
#
# Servers (all four run for the whole script, each pinned to CPU 0; the client is pinned to
# CPU 1): evloop's `examples/echo` (`evloop`), the static-buffer `uv_try_write` libuv echo
# (`uv_static`, benches/peers/c/echo_server_static.c: the strong libuv peer), the allocating
# libuv echo (`uv_alloc`, echo_server.c: a copy and a uv_write per read, as libuv's test echo
# server does) and the raw mio loop (`mio`, benches/tools/src/bin/mio_echo.rs). Every one sets
# TCP_NODELAY on accepted connections; so does the client.
#
# `node` (benches/peers/node/echo_server.js) joins with --servers ...,node.
#
# Cases are CONNSxSIZE: 1, 10 and 100 connections, each with one SIZE-byte message in flight
# (net_client pingpong, every echo checked byte for byte), × 64 B, 1 KiB and 16 KiB; and, not
# in the default set, pound_100 (100 connections at a time each connect, echo 16 bytes and
# close: connections/s) and pump (one connection streaming 64 KiB chunks: bytes/s). Clients:
# `sleep` (single thread, sleeps in epoll_wait) and `spin` (single thread, polls epoll with a
# zero timeout, never sleeps: `--spin`).
#
# Per case and client, N rounds (default 5); a round runs each server for S seconds (default 2)
# in an order that rotates from round to round (round r starts at server r mod 4). Per run:
# the rate (round trips/s) and the server's CPU time over the run, as the sum of
# sum_exec_runtime over its threads (/proc/PID/task/*/schedstat, ns; utime+stime from
# /proc/PID/stat, in 10 ms ticks, is kept beside it in the raw file). The tables give, per case
# and client, each server's median rate, and the median [min-max] over the rounds of the
# per-round ratios evloop/uv_static, evloop/mio and evloop/uv_alloc, by rate and by round trips
# per server CPU-second, with the 1-minute load average seen during the rounds.
#
# Unless --no-counts: the deterministic figures per round trip, for 1x64, 10x1024, 100x64 and
# 100x16384 (ECHO_COUNT_CASES="..." for others) with the sleeping client (bounded by --max-ops):
# - callgrind (`--cache-sim=yes --branch-sim=yes`: this VM exposes no hardware counters to
#   `perf stat`): user-space instructions, L1 data misses, last-level misses and mispredicted
#   branches per round trip, start-up removed by differencing two amounts of work;
# - the kernel's syscall tracepoints counted by `perf stat` over a 2 s run at full speed, for
#   both clients: epoll waits, reads, writes and context switches per round trip, and events per
#   epoll wait (reads per wait: each ready connection is read once).
#
# --quick: 3 rounds of 1 s, counts with the smaller amounts. Everything is on 127.0.0.1, every
# load is bounded by --secs and --max-ops and every process by `timeout`. Progress goes to
# stderr, the tables to stdout (markdown); ECHO_ROUNDS_RAW=FILE keeps the per-run TSV.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=$here/peers/build
servers=(evloop uv_static uv_alloc mio)
pingpong_cases=(1x64 1x1024 1x16384 10x64 10x1024 10x16384 100x64 100x1024 100x16384)
all_cases=("${pingpong_cases[@]}" pound_100 pump)
read -r -a count_cases <<<"${ECHO_COUNT_CASES:-1x64 10x1024 100x64 100x16384}"

# shellcheck source=benches/common.sh
source "$here/common.sh"

usage() {
    cat <<EOF
usage: bash benches/echo_rounds.sh [--rounds N] [--secs S] [--quick] [--no-counts] [--counts-only]
                                   [--clients sleep,spin] [--servers LIST] [case...]
cases (default: the ping-pong ones): ${all_cases[*]}
servers (default: ${servers[*]}): those and node
EOF
}

rounds=5
secs=2
quick=0
counts=1
rounds_on=1
clients=(sleep spin)
cases=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) rounds=${2:?}; shift ;;
        --secs) secs=${2:?}; shift ;;
        --quick) quick=1; rounds=3; secs=1 ;;
        --no-counts) counts=0 ;;
        --counts-only) rounds_on=0 ;;
        --clients) IFS=, read -r -a clients <<<"${2:?}"; shift ;;
        --servers) IFS=, read -r -a servers <<<"${2:?}"; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; exit 2 ;;
        *)
            if [[ " ${all_cases[*]} " != *" $1 "* ]]; then
                log "unknown case: $1"
                usage >&2
                exit 2
            fi
            cases+=("$1")
            ;;
    esac
    shift
done
[[ ${#cases[@]} -gt 0 ]] || cases=("${pingpong_cases[@]}")
[[ $rounds =~ ^[1-9][0-9]*$ && $secs =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
    { log "--rounds wants a positive integer, --secs a number"; exit 2; }
for c in "${clients[@]}"; do
    [[ $c == sleep || $c == spin ]] || { log "unknown client: $c"; exit 2; }
done
for s in "${servers[@]}"; do
    [[ " evloop uv_static uv_alloc mio node " == *" $s "* ]] || { log "unknown server: $s"; exit 2; }
done
[[ " ${servers[*]} " == *" evloop "* ]] || { log "--servers must include evloop"; exit 2; }
if [[ " ${servers[*]} " == *" node "* ]] && ! command -v node >/dev/null; then
    log "node: not on PATH"
    exit 2
fi

scratch_and_cleanup
build_net_bins "$root" "$tmp"
build_c_peers "$build" echo_server echo_server_static
for prog in echo_server echo_server_static; do
    [[ -x $build/$prog ]] || { log "the libuv peer $prog did not build"; exit 1; }
done

# The client's own CPU time and context switches (voluntary: it slept; involuntary: it was
# preempted), for the comparison of the two clients.
time_client=()
if [[ -x /usr/bin/time ]]; then
    time_client=(/usr/bin/time -o "$tmp/client.time" -f '%U %S %w %c')
else
    log "no /usr/bin/time: the client's context switches are not recorded"
fi

pin_server=(taskset -c 0)
pin_client=(taskset -c 1)
if ! taskset -c 0,1 true 2>/dev/null; then
    log "not pinning: taskset -c 0,1 is unavailable"
    pin_server=()
    pin_client=()
fi

server_argv() {
    case $1 in
        evloop) echo "$evloop_echo --addr 127.0.0.1:0 --threads 1" ;;
        uv_static) echo "$build/echo_server_static --addr 127.0.0.1:0" ;;
        uv_alloc) echo "$build/echo_server --addr 127.0.0.1:0" ;;
        mio) echo "$mio_bin --addr 127.0.0.1:0" ;;
        node) echo "node $here/peers/node/echo_server.js --addr 127.0.0.1:0" ;;
    esac
}

# --- the four servers, started once --------------------------------------------------------
declare -A spid=() saddr=()
start_server() {
    local side=$1 wrapper out=$tmp/server.$1.out
    : >"$out"
    # shellcheck disable=SC2046 # argv is a plain word list
    timeout 3600 "${pin_server[@]}" $(server_argv "$side") >"$out" 2>"$tmp/server.$side.err" &
    wrapper=$!
    pids+=("$wrapper")
    saddr[$side]=$(wait_listening "$out") || { log "$side did not start"; exit 1; }
    spid[$side]=$(pgrep -P "$wrapper" | head -n 1 || true)
    [[ -n ${spid[$side]} ]] || spid[$side]=$wrapper
    pids+=("${spid[$side]}")
}

# Server CPU: "<ns over all threads> <utime+stime ticks>".
cpu_of() {
    local pid=$1
    # shellcheck disable=SC2002
    printf '%s %s\n' \
        "$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }')" \
        "$(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')"
}

# The net_client mode and flags of a case.
load_args() {
    case $1 in
        pound_*) echo "pound --conns ${1#pound_}" ;;
        pump) echo pump ;;
        *) echo "pingpong --conns ${1%x*} --size ${1#*x}" ;;
    esac
}

client_flags() {
    [[ $1 == spin ]] && echo --spin || true
}

# --- the rounds ------------------------------------------------------------------------------
raw=${ECHO_ROUNDS_RAW:-$tmp/raw.tsv}
failed=0
if [[ $rounds_on -eq 1 ]]; then
    for side in "${servers[@]}"; do start_server "$side"; done
    log "servers: $(for s in "${servers[@]}"; do printf '%s=%s ' "$s" "${saddr[$s]}"; done)"
    printf 'case\tclient\tround\tserver\trate\tops\tsecs\tcpu_ns\tcpu_ticks\tload1\tclient_cpu_s\tclient_vcs\tclient_ivcs\n' >"$raw"
    started=$(date -u +%H:%M)
    for case in "${cases[@]}"; do
        for cl in "${clients[@]}"; do
            log "$case, $cl client: $rounds rounds of ${secs}s per server"
            for ((r = 0; r < rounds; r++)); do
                for ((k = 0; k < ${#servers[@]}; k++)); do
                    side=${servers[$(((r + k) % ${#servers[@]}))]}
                    read -r ns0 t0 < <(cpu_of "${spid[$side]}")
                    load=$(cut -d' ' -f1 /proc/loadavg)
                    status=0
                    # shellcheck disable=SC2046
                    : >"$tmp/client.time"
                    line=$(timeout "$(awk -v s="$secs" 'BEGIN { print int(s) + 30 }')" \
                        "${time_client[@]}" "${pin_client[@]}" "$client" $(load_args "$case") --addr "${saddr[$side]}" \
                        --secs "$secs" --max-ops 100000000000 \
                        $(client_flags "$cl") 2>"$tmp/client.err") || status=$?
                    read -r ns1 t1 < <(cpu_of "${spid[$side]}")
                    if [[ $status -ne 0 || ! $line =~ ops=([0-9]+)\ secs=([0-9.]+)\ rate=([0-9.eE+-]+)$ ]]; then
                        log "  $side: client failed (status $status): ${line:0:200} $(tail -n 2 "$tmp/client.err")"
                        failed=1
                        continue
                    fi
                    read -r ccpu cvcs civcs < <(awk 'NF == 4 { print $1 + $2, $3, $4; f = 1 } END { if (!f) print "nan 0 0" }' "$tmp/client.time")
                    printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n' "$case" "$cl" "$r" "$side" \
                        "${BASH_REMATCH[3]}" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" \
                        $((ns1 - ns0)) $((t1 - t0)) "$load" "$ccpu" "$cvcs" "$civcs" >>"$raw"
                done
            done
        done
    done
    finished=$(date -u +%H:%M)
    for side in "${servers[@]}"; do kill -TERM "${spid[$side]}" 2>/dev/null || true; done
    sleep 0.5

    echo "### Echo rounds ($started–$finished UTC, $rounds rounds × ${secs} s per server, servers interleaved)"
    echo
    python3 - "$raw" "${servers[@]}" <<'EOF'
import collections, statistics, sys

servers = sys.argv[2:]
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
runs = collections.defaultdict(dict)  # (case, client, round) -> server -> (rate, per CPU-s)
loads = collections.defaultdict(list)
order = []
cl_stats = collections.defaultdict(list)  # (case, client, server) -> [(rate, cpu/s, vcs/op, ivcs/s)]
for case, client, rnd, server, rate, ops, secs, ns, ticks, load, ccpu, cvcs, civcs in rows:
    key = (case, client)
    if ccpu != "nan" and int(ops) > 0:
        cl_stats[(case, client, server)].append((float(rate), float(ccpu) / float(secs),
                                                 int(cvcs) / int(ops), int(civcs) / float(secs)))
    if key not in order:
        order.append(key)
    cpu = int(ns) / 1e9
    runs[(case, client, rnd)][server] = (float(rate), int(ops) / cpu if cpu > 0 else float("nan"))
    loads[key].append(float(load))

def human(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    return f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"

def spread(vals):
    if not vals:
        return "n/a", None
    m = statistics.median(vals)
    return f"{m:.2f} [{min(vals):.2f}–{max(vals):.2f}]", m

# Acceptance (issue 18): ping-pong cases only; pound and pump are reported, not judged.
needs = {"uv_static": 1.0, "mio": 0.9}
peers = [p for p in ("uv_static", "mio", "uv_alloc", "node") if p in servers]
verdicts = []
for metric, idx in (("rate", 0), ("work per server CPU-second", 1)):
    print(f"By {metric}: each server's median, then the median [min–max] of the per-round ratios "
          "(round trips for NxSIZE, connections for pound, bytes for pump)")
    print()
    print("| case | client | " + " | ".join(servers) + " | " + " | ".join(f"ev/{p}" for p in peers) + " | load |")
    print("| --- | --- | " + " | ".join("---:" for _ in servers + peers) + " | ---: |")
    for case, client in order:
        rnds = [v for (c, cl, r), v in runs.items() if (c, cl) == (case, client)]
        meds = []
        for s in servers:
            vals = [rd[s][idx] for rd in rnds if s in rd]
            meds.append(human(statistics.median(vals)) if vals else "n/a")
        cells = []
        judged = "x" in case
        for peer in peers:
            vals = [rd["evloop"][idx] / rd[peer][idx] for rd in rnds if "evloop" in rd and peer in rd]
            text, m = spread(vals)
            cells.append(text)
            if judged and peer in needs and m is not None:
                verdicts.append((m >= needs[peer], f"{case} {client} {metric}: ev/{peer} {text} (needs ≥ {needs[peer]})"))
            if judged and peer == "uv_static" and case.startswith("1x") and m is not None:
                verdicts.append((m >= 0.9, f"{case} {client} {metric}: single connection within 10 % of uv_static ({m:.2f})"))
        ld = loads[(case, client)]
        print(f"| {case} | {client} | " + " | ".join(meds) + " | " + " | ".join(cells) +
              f" | {min(ld):.1f}–{max(ld):.1f} |")
    print()
if cl_stats:
    print("The client's side (medians): rate, the client's CPU-seconds per second, its voluntary "
          "context switches (sleeps) per unit of work and its involuntary ones (preemptions) per second")
    print()
    print("| case | server | sleep: rate | CPU/s | sleeps/op | preempt/s | spin: rate | CPU/s | sleeps/op | preempt/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case in dict.fromkeys(c for c, _ in order):
        for s in ("evloop", "uv_static"):
            cells = []
            for client in ("sleep", "spin"):
                v = cl_stats.get((case, client, s))
                if not v:
                    cells += ["n/a"] * 4
                    continue
                m = [statistics.median(x[i] for x in v) for i in range(4)]
                cells += [human(m[0]), f"{m[1]:.2f}", f"{m[2]:.2f}", f"{m[3]:.0f}"]
            print(f"| {case} | {s} | " + " | ".join(cells) + " |")
    print()
missed = [t for ok, t in verdicts if not ok]
if verdicts:
    print(f"Acceptance: {len(verdicts) - len(missed)} of {len(verdicts)} median ratios met.")
for t in missed:
    print(f"- MISS {t}")
print()
EOF
fi

# --- the deterministic figures ---------------------------------------------------------------
if [[ $counts -eq 1 ]]; then
    need_valgrind
    # Callgrind totals of a server serving <ops> round trips: "<ops done> Ir D1m LLm Bm".
    cg_measure() {
        local side=$1 conns=$2 size=$3 ops=$4 out cg pid addr line done_ops
        out=$tmp/cg.$side.$conns.$size.$ops.out
        cg=$tmp/cg.$side.$conns.$size.$ops
        : >"$out"
        # shellcheck disable=SC2046
        timeout 600 valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes \
            --callgrind-out-file="$cg" $(server_argv "$side") >"$out" 2>"$tmp/vg.err" &
        pid=$!
        pids+=("$pid")
        addr=$(wait_listening "$out") || { log "$side: no address under callgrind"; kill -KILL "$pid"; return 1; }
        line=$(timeout 300 "$client" pingpong --addr "$addr" --conns "$conns" --size "$size" \
            --secs 250 --max-ops "$ops") || { log "$side: client failed"; kill -KILL "$pid"; return 1; }
        sleep 0.3
        kill -TERM "$pid"
        wait "$pid" || true
        done_ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$line")
        # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim
        awk -v ops="$done_ops" '
            /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i - 1 }
            /^summary:/ {
                for (i = 2; i <= NF; i++) v[i - 1] = $i
                printf "%s %s %s %s %s\n", ops, v[col["Ir"]],
                    v[col["D1mr"]] + v[col["D1mw"]],
                    v[col["ILmr"]] + v[col["DLmr"]] + v[col["DLmw"]],
                    v[col["Bcm"]] + v[col["Bim"]]
            }' "$cg"
    }
    # A large difference: start-up varies by tens of thousands of instructions from run to run
    # (how the allocator zeroes the 64 KiB buffer), which must stay small per round trip.
    small=2000 large=20000
    [[ $quick -eq 0 ]] || { small=1000; large=6000; }
    echo "### Per round trip, deterministic (callgrind with cache and branch simulation, sleeping client)"
    echo
    echo "Server user space only, start-up removed by differencing $small and $large round trips."
    echo
    echo "| case | server | instructions | L1 data misses | last-level misses | mispredicted branches | ev/peer instructions |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    for case in "${count_cases[@]}"; do
        conns=${case%x*} size=${case#*x}
        declare -A ir=()
        for side in "${servers[@]}"; do
            [[ $side != node ]] || continue # a JIT under callgrind counts the JIT
            log "callgrind: $case $side"
            a=$(cg_measure "$side" "$conns" "$size" "$small") &&
                b=$(cg_measure "$side" "$conns" "$size" "$large") || { failed=1; continue; }
            read -r per ir_v <<<"$(awk -v a="$a" -v b="$b" 'BEGIN {
                split(a, x, " "); split(b, y, " "); n = y[1] - x[1]
                if (n <= 0) exit 1
                printf "%.0f|%.1f|%.2f|%.2f %.0f\n", (y[2] - x[2]) / n, (y[3] - x[3]) / n,
                    (y[4] - x[4]) / n, (y[5] - x[5]) / n, (y[2] - x[2]) / n }')" || { failed=1; continue; }
            ir[$side]=$ir_v
            IFS='|' read -r i d l m <<<"$per"
            rel=
            [[ $side == evloop ]] || rel=$(awk -v e="${ir[evloop]:-0}" -v p="$ir_v" 'BEGIN { if (e > 0) printf "%.2f", e / p }')
            echo "| $case | $side | $i | $d | $l | $m | ${rel:-–} |"
        done
        unset ir
    done
    echo

    # Syscalls per round trip from the kernel's tracepoints, at full speed.
    events=syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_readv,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,context-switches
    if perf stat -e "$events" true >/dev/null 2>&1; then
        for side in "${servers[@]}"; do start_server "$side"; done
        echo "### Per round trip, syscalls (perf stat on the kernel's syscall tracepoints, 2 s runs)"
        echo
        echo "Server: epoll waits, reads, writes and context switches per round trip, reads per wait (each"
        echo "ready connection is read once, mio's until EAGAIN); the client's context switches per round"
        echo "trip (only those: tracing a spinning client's every empty poll would slow it to a crawl)."
        echo
        echo "| case | client | server | round trips/s | epoll waits | reads | writes | context switches | reads per wait | client switches |"
        echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for case in "${count_cases[@]}"; do
            conns=${case%x*} size=${case#*x}
            for cl in "${clients[@]}"; do
                for side in "${servers[@]}"; do
                    # shellcheck disable=SC2046
                    timeout 60 perf stat -x, -o "$tmp/perf.csv" -e "$events" -p "${spid[$side]}" -- \
                        perf stat -x, -o "$tmp/perf.client.csv" -e context-switches -- \
                        timeout 40 "${pin_client[@]}" "$client" pingpong --addr "${saddr[$side]}" \
                        --conns "$conns" --size "$size" --secs 2 --max-ops 100000000 \
                        $(client_flags "$cl") >"$tmp/perf.line" 2>"$tmp/client.err" ||
                        { log "perf stat: $case $cl $side failed"; failed=1; continue; }
                    awk -F, -v case="$case" -v client="$cl" -v side="$side" '
                        FILENAME ~ /perf.line$/ { split($0, f, " "); for (i in f) { split(f[i], kv, "="); w[kv[1]] = kv[2] }; next }
                        /^#/ || NF < 3 { next }
                        FILENAME ~ /perf.client.csv$/ { n = $1 + 0
                          if ($3 ~ /context-switches/) ccs += n; next }
                        { n = $1 + 0; e = $3
                          if (e ~ /epoll/) wait += n
                          else if (e ~ /(read|recvfrom|readv)$/) rd += n
                          else if (e ~ /(write|sendto|writev|sendmsg)$/) wr += n
                          else if (e ~ /context-switches/) cs += n }
                        END { ops = w["ops"]; if (ops <= 0) exit 1
                          printf "| %s | %s | %s | %.1fk | %.3f | %.3f | %.3f | %.3f | %.1f | %.3f |\n", case, client, side,
                              w["rate"] / 1e3, wait / ops, rd / ops, wr / ops, cs / ops, (wait > 0 ? rd / wait : 0),
                              ccs / ops }
                    ' "$tmp/perf.line" "$tmp/perf.csv" "$tmp/perf.client.csv" || { failed=1; log "perf stat: $case $cl $side: no figures"; }
                done
            done
        done
        echo
    else
        log "perf stat cannot count syscall tracepoints here: no syscall table"
    fi
fi
exit "$failed"
