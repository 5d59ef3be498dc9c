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
# decides the rate. PEERS_CPUS=0,1 lets them run in parallel. Every run is bounded by
# `timeout 60`; POSTS_CALLGRIND=0 skips the instruction counts. POSTS_BEFORE_BIN=<peer_workloads
# binary of another build> adds that build to every round (its ratio to libuv in a last column),
# to compare two evloop builds in the same run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-9}
cpus=${PEERS_CPUS:-1}

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

# run <side>: prints "<rate> <voluntary+involuntary context switches>".
run() {
    local bin
    case $1 in evloop) bin=$ev_bin ;; libuv) bin=$uv_bin ;; before) bin=$POSTS_BEFORE_BIN ;; esac
    local out
    out=$(timeout 60 /usr/bin/time -f 'switches %w %c' taskset -c "$cpus" "$bin" posts 2>&1)
    local rate sw
    rate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
    sw=$(awk '/^switches/ { print $2 + $3 }' <<<"$out")
    [[ -n $rate && -n $sw ]] || { log "$1: bad output: $out"; return 1; }
    echo "$rate $sw"
}

before=${POSTS_BEFORE_BIN:-}
printf '%-6s %14s %14s %8s %12s %12s' round evloop/s libuv/s ratio ev_switches uv_switches
[[ -z $before ]] || printf ' %14s %12s %8s' before/s bf_switches bf_ratio
echo
ratios=() bratios=()
for ((r = 1; r <= rounds; r++)); do
    bf=
    if ((r % 2)); then
        ev=$(run evloop) uv=$(run libuv)
        [[ -z $before ]] || bf=$(run before)
    else
        [[ -z $before ]] || bf=$(run before)
        uv=$(run libuv) ev=$(run evloop)
    fi
    read -r ev_rate ev_sw <<<"$ev"
    read -r uv_rate uv_sw <<<"$uv"
    ratio=$(awk -v a="$ev_rate" -v b="$uv_rate" 'BEGIN { printf "%.3f", a / b }')
    ratios+=("$ratio")
    printf '%-6s %14.0f %14.0f %8s %12s %12s' "$r" "$ev_rate" "$uv_rate" "$ratio" "$ev_sw" "$uv_sw"
    if [[ -n $bf ]]; then
        read -r bf_rate bf_sw <<<"$bf"
        bratio=$(awk -v a="$bf_rate" -v b="$uv_rate" 'BEGIN { printf "%.3f", a / b }')
        bratios+=("$bratio")
        printf ' %14.0f %12s %8s' "$bf_rate" "$bf_sw" "$bratio"
    fi
    echo
done
summary() {
    local what=$1
    shift
    printf '%s\n' "$@" | sort -g | awk -v what="$what" '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "%s by rate: median %.3f (min %.3f, max %.3f) over %d rounds\n", what, m, v[1], v[NR], NR }'
}
summary evloop/libuv "${ratios[@]}"
[[ -z $before ]] || summary before/libuv "${bratios[@]}"

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
