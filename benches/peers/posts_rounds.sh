#!/usr/bin/env bash
# Cross-thread posts, evloop against libuv, in interleaved rounds: each round runs both programs
# once (the order alternates from round to round), the per-round ratio evloop/libuv is taken,
# and the median of those ratios is reported with its min-max, together with the wake-ups each
# side paid (context switches of the process) and, under callgrind, the instructions per post of
# each thread (loop and producer; start-up removed by differencing 100 000 and 1 000 000 posts).
#
#   bash benches/peers/posts_rounds.sh [rounds]          (default 9 rounds)
#
# Both threads of each program are pinned to one CPU (PEERS_CPUS, default 1, as run.sh): the
# producer and the loop then take turns, and how many posts one wake-up of the loop collects
# decides the rate. PEERS_CPUS=0,1 lets them run in parallel. With `perf` (linux-perf) each round
# also gives the ratio of posts per CPU-second (task-clock of the whole process, kernel time
# included), which counts what the wake-ups cost and moves less with the machine's load than the
# rate does; without it the context switches come from /usr/bin/time. Every run is bounded by
# `timeout 60`; POSTS_CALLGRIND=0 skips the instruction counts. POSTS_BEFORE_BIN=<peer_workloads
# binary of another build> adds that build to every round (its ratios to libuv in the last
# columns), to compare two evloop builds in the same run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-9}
cpus=${PEERS_CPUS:-1}
before=${POSTS_BEFORE_BIN:-}

# shellcheck source=benches/common.sh
source "$here/../common.sh"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

build_c_peers "$here/build" posts
uv_bin=$here/build/posts
[[ -x $uv_bin ]] || { log "libuv posts peer missing"; exit 1; }
(cd "$root" && timeout 1200 cargo bench --no-run --bench peer_workloads --message-format=json) \
    >"$scratch/cargo.json" 2>"$scratch/cargo.err" ||
    { tail -n 20 "$scratch/cargo.err" >&2; exit 1; }
ev_bin=$(artifact "$scratch/cargo.json" peer_workloads)

use_perf=0
perf stat -x, -e task-clock true >/dev/null 2>&1 && use_perf=1

# run <side>: prints "<rate> <context switches> <posts per CPU-second, or 0 without perf>".
run() {
    local bin
    case $1 in evloop) bin=$ev_bin ;; libuv) bin=$uv_bin ;; before) bin=$before ;; esac
    local out rate sw cpu=0
    if ((use_perf)); then
        out=$(timeout 60 perf stat -x, -e task-clock,context-switches -o "$scratch/perf" \
            taskset -c "$cpus" "$bin" posts 2>&1)
        sw=$(awk -F, '$3 == "context-switches" { print $1 }' "$scratch/perf")
        local ops
        ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$out")
        cpu=$(awk -F, -v n="$ops" '$3 == "task-clock" { printf "%.0f", n / ($1 / 1000) }' \
            "$scratch/perf")
    else
        out=$(timeout 60 /usr/bin/time -f 'switches %w %c' taskset -c "$cpus" "$bin" posts 2>&1)
        sw=$(awk '/^switches/ { print $2 + $3 }' <<<"$out")
    fi
    rate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
    [[ -n $rate && -n $sw && -n $cpu ]] || { log "$1: bad output: $out"; return 1; }
    echo "$rate $sw $cpu"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

printf '%-5s %12s %12s %7s %9s %9s %7s' round evloop/s libuv/s ratio ev_sw uv_sw cpu_rat
[[ -z $before ]] || printf ' %12s %9s %7s %7s' before/s bf_sw bf_rat bf_cpu
echo
ratios=() cratios=() bratios=() bcratios=()
for ((r = 1; r <= rounds; r++)); do
    bf=
    if ((r % 2)); then
        ev=$(run evloop) uv=$(run libuv)
        [[ -z $before ]] || bf=$(run before)
    else
        [[ -z $before ]] || bf=$(run before)
        uv=$(run libuv) ev=$(run evloop)
    fi
    read -r ev_rate ev_sw ev_cpu <<<"$ev"
    read -r uv_rate uv_sw uv_cpu <<<"$uv"
    ratios+=("$(ratio "$ev_rate" "$uv_rate")")
    cratios+=("$(ratio "$ev_cpu" "$uv_cpu")")
    printf '%-5s %12.0f %12.0f %7s %9s %9s %7s' "$r" "$ev_rate" "$uv_rate" "${ratios[-1]}" \
        "$ev_sw" "$uv_sw" "${cratios[-1]}"
    if [[ -n $bf ]]; then
        read -r bf_rate bf_sw bf_cpu <<<"$bf"
        bratios+=("$(ratio "$bf_rate" "$uv_rate")")
        bcratios+=("$(ratio "$bf_cpu" "$uv_cpu")")
        printf ' %12.0f %9s %7s %7s' "$bf_rate" "$bf_sw" "${bratios[-1]}" "${bcratios[-1]}"
    fi
    echo
done

summary() {
    local what=$1
    shift
    [[ $1 != n/a ]] || return 0
    printf '%s\n' "$@" | sort -g | awk -v what="$what" '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "%s: median %.3f (min %.3f, max %.3f) over %d rounds\n", what, m, v[1], v[NR], NR }'
}
summary "evloop/libuv by rate" "${ratios[@]}"
summary "evloop/libuv per CPU-second" "${cratios[@]}"
if [[ -n $before ]]; then
    summary "before/libuv by rate" "${bratios[@]}"
    summary "before/libuv per CPU-second" "${bcratios[@]}"
fi

[[ ${POSTS_CALLGRIND:-1} != 0 ]] || exit 0
need_valgrind
# per_thread <bin>: instructions per post of thread 1 (the loop) and thread 2 (the producer).
per_thread() {
    local bin=$1 t q f
    timeout 300 valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$scratch/q" "$bin" posts --quick >/dev/null 2>&1
    timeout 300 valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$scratch/f" "$bin" posts >/dev/null 2>&1
    for t in 01 02; do
        q=$(sed -n 's/^summary: //p' "$scratch/q-$t")
        f=$(sed -n 's/^summary: //p' "$scratch/f-$t")
        printf ' %s' "$(((f - q) / 900000))"
    done
    rm -f "$scratch"/q-* "$scratch"/f-*
}
read -r ev_loop ev_prod <<<"$(per_thread "$ev_bin")"
read -r uv_loop uv_prod <<<"$(per_thread "$uv_bin")"
echo "instructions per post (callgrind): evloop loop $ev_loop + producer $ev_prod = $((ev_loop + ev_prod));" \
    "libuv loop $uv_loop + producer $uv_prod = $((uv_loop + uv_prod))"
