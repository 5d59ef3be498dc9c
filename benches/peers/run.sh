#!/usr/bin/env bash
# Runs each workload on evloop, on C with the system libuv, and on Node, and prints the rates,
# the ratios and evloop's target for each (benches/peers/workloads.tsv).
#
#   bash benches/peers/run.sh [--quick] [--markdown] [workload...]
#
# Every side runs 3 times per workload (interleaved) and the best rate counts. Each process is
# pinned to CPU 1 when taskset can (PEERS_CPUS=0,1 gives a CPU list instead; all threads of a
# process share the pinned CPUs, which changes the pool and cross-thread workloads), and each is
# bounded by `timeout 60`. Progress and diagnostics go to stderr; the table goes to stdout,
# followed by a markdown copy with --markdown. The exit status is 1 if a program that exists
# failed (crash, timeout, bad output line), else 0; a MISS is not a failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$here/build
runs=3
run_timeout=60
sides=(evloop libuv node)

log() { printf '%s\n' "$*" >&2; }

usage() {
    cat <<EOF
usage: bash benches/peers/run.sh [--quick] [--markdown] [workload...]
  --quick     divide every op count by 10 (CI smoke runs)
  --markdown  also print the table as markdown
workloads (default: all): ${known[*]}
EOF
}

# The workload registry: name, target peer, minimum ratio and note, from workloads.tsv.
known=()
declare -A target_peer=() target_min=() note=()
while IFS=$'\t' read -r name peer min text; do
    case $name in '' | '#'*) continue ;; esac
    known+=("$name")
    target_peer[$name]=$peer
    target_min[$name]=$min
    note[$name]=${text:-}
done <"$here/workloads.tsv"

quick=()
markdown=0
workloads=()
for arg in "$@"; do
    case $arg in
        --quick) quick=(--quick) ;;
        --markdown) markdown=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; exit 2 ;;
        *)
            if [[ -z ${target_peer[$arg]+set} ]]; then
                log "unknown workload: $arg"
                usage >&2
                exit 2
            fi
            workloads+=("$arg")
            ;;
    esac
done
[[ ${#workloads[@]} -gt 0 ]] || workloads=("${known[@]}")

# The program that runs a workload: one per workload, except the fs_stat_N family.
program_of() {
    case $1 in
        fs_stat_*) echo fs_stat ;;
        *) echo "$1" ;;
    esac
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}

# --- libuv: install the headers if missing, build the C programs into build/ -------------------
if [[ ! -f /usr/include/uv.h ]]; then
    log "installing libuv1-dev (no /usr/include/uv.h)"
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libuv1-dev; } >&2 ||
        log "libuv: could not install libuv1-dev; libuv results will be n/a"
fi
mkdir -p "$build"
for src in "$here"/c/*.c; do
    bin=$build/$(basename "$src" .c)
    if [[ ! -x $bin || $src -nt $bin || $here/c/common.h -nt $bin ]]; then
        "${CC:-cc}" -O2 -Wall -Wextra -o "$bin" "$src" -luv -lpthread >&2 ||
            { log "libuv: building $src failed"; rm -f "$bin"; }
    fi
done

# --- evloop: the peer_workloads bench binary ------------------------------------------------------
cargo_log=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$cargo_log" "$errors"' EXIT
evloop_bin=
if command -v cargo >/dev/null &&
    (cd "$root" && timeout 1200 cargo bench --no-run --bench peer_workloads --message-format=json) \
        >"$cargo_log" 2>/dev/null; then
    evloop_bin=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "peer_workloads" and m.get("executable"):
        print(m["executable"])
' "$cargo_log" | tail -n 1)
fi
if [[ -n $evloop_bin && -x $evloop_bin ]]; then
    evloop_ok=1
else
    evloop_ok=0
    log "evloop: n/a (cargo bench --no-run --bench peer_workloads failed)"
fi

node_ok=1
command -v node >/dev/null || { node_ok=0; log "node: n/a (no node on PATH)"; }

cpus=${PEERS_CPUS:-1}
pin=()
if command -v taskset >/dev/null && taskset -c "$cpus" true 2>/dev/null; then
    pin=(taskset -c "$cpus")
else
    log "not pinning: taskset -c $cpus is unavailable"
fi

# Sets `cmd` to the argv that runs a side on a workload; empty if that side has no program.
cmd=()
set_command() {
    local side=$1 program
    program=$(program_of "$2")
    cmd=()
    case $side in
        evloop) [[ $evloop_ok -eq 0 ]] || cmd=("$evloop_bin") ;;
        libuv) [[ ! -x $build/$program ]] || cmd=("$build/$program") ;;
        node) [[ $node_ok -eq 0 || ! -f $here/node/$program.js ]] || cmd=(node "$here/node/$program.js") ;;
    esac
}

# Runs `cmd` once on a workload; prints its rate. Returns 2 if the program does not run the
# workload, 1 if it failed (the reason goes to stderr).
run_once() {
    local workload=$1 out status=0
    out=$(timeout "$run_timeout" "${pin[@]}" "${cmd[@]}" "$workload" "${quick[@]}" 2>"$errors") ||
        status=$?
    if [[ $status -eq 2 ]]; then
        return 2
    elif [[ $status -eq 124 ]]; then
        log "    timed out after ${run_timeout}s"
        return 1
    elif [[ $status -ne 0 ]]; then
        log "    exit status $status:"
        tail -n 5 "$errors" | sed 's/^/    /' >&2
        return 1
    elif [[ ! $out =~ ^workload=$workload\ ops=[0-9]+\ secs=[0-9.eE+-]+\ rate=([0-9.eE+-]+)$ ]]; then
        log "    bad output line: ${out:0:200}"
        return 1
    fi
    echo "${BASH_REMATCH[1]}"
}

declare -A best=()
failed=0
for workload in "${workloads[@]}"; do
    declare -A done_side=()
    for ((r = 1; r <= runs; r++)); do
        for side in "${sides[@]}"; do
            [[ -z ${done_side[$side]+set} ]] || continue
            set_command "$side" "$workload"
            if [[ ${#cmd[@]} -eq 0 ]]; then
                done_side[$side]=1
                continue
            fi
            log "$workload: $side (run $r of $runs)"
            status=0
            rate=$(run_once "$workload") || status=$?
            if [[ $status -eq 2 ]]; then
                log "    $side does not run $workload"
                done_side[$side]=1
                continue
            elif [[ $status -ne 0 ]]; then
                # One failed run voids the side's result for this workload.
                log "    $side FAILED on $workload"
                best[$workload:$side]=FAIL
                failed=1
                done_side[$side]=1
                continue
            fi
            log "    $rate ops/s"
            if [[ -z ${best[$workload:$side]+set} ]] ||
                awk -v a="$rate" -v b="${best[$workload:$side]}" 'BEGIN { exit !(a > b) }'; then
                best[$workload:$side]=$rate
            fi
        done
    done
    unset done_side
done

# --- the table ------------------------------------------------------------------------------------
# One row per workload, tab-separated: workload, 3 rates (or FAIL), 2 ratios, target, result.
rows() {
    local workload side
    for workload in "${workloads[@]}"; do
        printf '%s' "$workload"
        for side in "${sides[@]}"; do printf '\t%s' "${best[$workload:$side]:-}"; done
        printf '\t%s\t%s\n' "${target_peer[$workload]}" "${target_min[$workload]}"
    done | awk -F'\t' -v OFS='\t' '
        function human(r) {
            if (r == "") return "n/a"
            if (r == "FAIL") return r
            if (r >= 1e6) return sprintf("%.2fM", r / 1e6)
            if (r >= 1e3) return sprintf("%.1fk", r / 1e3)
            return sprintf("%.0f", r)
        }
        function ratio(a, b) { return (a == "" || b == "" || a == "FAIL" || b == "FAIL") ? "" : a / b }
        function shown(x) { return x == "" ? "n/a" : sprintf("%.2f", x) }
        {
            vs_libuv = ratio($2, $3); vs_node = ratio($2, $4)
            got = ($5 == "libuv") ? vs_libuv : vs_node
            result = (got == "") ? "n/a" : (got >= $6 ? "PASS" : "MISS")
            print $1, human($2), human($3), human($4), shown(vs_libuv), shown(vs_node),
                sprintf("%s>=%s", $5, $6), result
        }'
}

libuv_version=$(awk '/define UV_VERSION_(MAJOR|MINOR|PATCH)/ { v = v sep $3; sep = "." } END { print v }' \
    /usr/include/uv/version.h 2>/dev/null || true)
summary="best of $runs runs per side; $([[ ${#quick[@]} -gt 0 ]] && echo "quick (1/10) counts" || echo "full counts"); $([[ ${#pin[@]} -gt 0 ]] && echo "pinned to CPU $cpus" || echo "not pinned"); libuv ${libuv_version:-n/a}; node $([[ $node_ok -eq 1 ]] && node --version || echo n/a); rates in ops/s"
header=$'workload\tevloop\tlibuv\tnode\tevloop/libuv\tevloop/node\ttarget\tresult'
table=$(printf '%s\n' "$header"; rows)

notes() {
    local workload
    for workload in "${workloads[@]}"; do
        [[ -z ${note[$workload]} ]] || printf -- '- %s: %s\n' "$workload" "${note[$workload]}"
    done
}

echo "$summary"
awk -F'\t' '{ printf "%-15s %9s %9s %9s %12s %11s %13s %6s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' <<<"$table"
notes
if [[ $markdown -eq 1 ]]; then
    echo
    echo "$summary"
    echo
    awk -F'\t' -v OFS=' | ' '
        { $1 = $1; print "| " $0 " |" }
        NR == 1 { print "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |" }' <<<"$table"
    echo
    notes
fi
exit "$failed"
