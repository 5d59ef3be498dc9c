#!/usr/bin/env bash
# Processes and pipes against libuv and Node, then fs-event latency against Node:
#   1. `benches/peers/run.sh spawn pipe_1g` — rates, 3 interleaved runs per side, best counts;
#   2. the parent's own CPU time per spawn (`perf stat --no-inherit -e task-clock`: the
#      children's exec and exit are not counted), 3 interleaved runs per side — steadier than
#      the wall-clock rate on a shared machine;
#   3. `benches/fs_event_bench.sh` — write-to-callback latency, median and p99.
#
#   bash benches/process_bench.sh [--quick]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
quick=()
[[ ${1:-} == --quick ]] && quick=(--quick)

bash "$here/peers/run.sh" "${quick[@]}" --markdown spawn pipe_1g

if command -v perf >/dev/null; then
    evloop_bin=$(ls -t "${CARGO_TARGET_DIR:-$here/../target}"/release/deps/peer_workloads-* 2>/dev/null | grep -v '\.d$' | head -n 1)
    libuv_bin=$here/peers/build/spawn
    n=2000
    [[ ${#quick[@]} -gt 0 ]] && n=200
    echo
    echo "parent CPU per spawn (perf task-clock, --no-inherit), $n spawns of true per run:"
    for round in 1 2 3; do
        for side in evloop libuv node; do
            case $side in
                evloop) cmd=("$evloop_bin" spawn "${quick[@]}") ;;
                libuv) cmd=("$libuv_bin" spawn "${quick[@]}") ;;
                node) cmd=(node "$here/peers/node/spawn.js" spawn "${quick[@]}") ;;
            esac
            ms=$(taskset -c 1 perf stat --no-inherit -x, -e task-clock -- "${cmd[@]}" 2>&1 >/dev/null |
                awk -F, '/task-clock/ {print $1}')
            awk -v side="$side" -v round="$round" -v ms="$ms" -v n="$n" \
                'BEGIN { printf "  round %d %-6s %8.1f ms total, %6.1f us per spawn\n", round, side, ms, ms * 1000 / n }'
        done
    done
fi

echo
bash "$here/fs_event_bench.sh" "${quick[@]}"
