#!/usr/bin/env bash
# fs-event latency, write to callback, evloop vs Node's fs.watch: 3 interleaved rounds each,
# every process pinned to CPU 1 (FS_BENCH_CPUS to change it), 2 000 samples per round
# (--quick: 200). Prints each round's line, then the best median and p99 of each side.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
quick=()
[[ ${1:-} == --quick ]] && quick=(--quick)
cpus=${FS_BENCH_CPUS:-1}
pin=()
if command -v taskset >/dev/null && taskset -c "$cpus" true 2>/dev/null; then
    pin=(taskset -c "$cpus")
fi
bin=$(cd "$root" && cargo bench --no-run --bench fs_event_latency --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "fs_event_latency" and m.get("executable"):
        print(m["executable"])
' | tail -n 1)
declare -A med=() p99=()
for round in 1 2 3; do
    for side in evloop node; do
        case $side in
            evloop) line=$(timeout 60 "${pin[@]}" "$bin" "${quick[@]}") ;;
            node) line=$(timeout 60 "${pin[@]}" node "$here/peers/node/fs_event_latency.js" "${quick[@]}") ;;
        esac
        echo "round $round $side: $line"
        m=$(sed -n 's/.*median_us=\([0-9.]*\).*/\1/p' <<<"$line")
        p=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$line")
        if [[ -z ${med[$side]:-} ]] || python3 -c "import sys; sys.exit(not ($m < ${med[$side]}))"; then med[$side]=$m; fi
        if [[ -z ${p99[$side]:-} ]] || python3 -c "import sys; sys.exit(not ($p < ${p99[$side]}))"; then p99[$side]=$p; fi
    done
done
for side in evloop node; do
    echo "best $side: median_us=${med[$side]} p99_us=${p99[$side]}"
done
