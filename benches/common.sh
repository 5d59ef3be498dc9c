# Shared by the benchmark scripts (`source "$here/common.sh"`): logging, the cargo artifact
# lookup, the libuv C peers' build, and valgrind for the instruction-count scripts.

log() { printf '%s\n' "$*" >&2; }

# artifact <file> <target>: the executable cargo built for <target>, from the JSON messages
# (`--message-format=json`) in <file>.
artifact() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == sys.argv[2] and m.get("executable"):
        print(m["executable"])
' "$1" "$2" | tail -n 1
}

# build_c_peers <dir> <program...>: compiles benches/peers/c/<program>.c against the system
# libuv into <dir> when the binary is missing or older than its source (installs libuv1-dev
# if its header is missing). A program that fails to build is left out, not fatal.
build_c_peers() {
    local dir=$1 prog src bin
    shift
    local c_dir
    c_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/peers/c
    if [[ ! -f /usr/include/uv.h ]]; then
        log "installing libuv1-dev (no /usr/include/uv.h)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libuv1-dev; } >&2 ||
            log "libuv: could not install libuv1-dev; libuv results will be n/a"
    fi
    mkdir -p "$dir"
    for prog in "$@"; do
        src=$c_dir/$prog.c
        bin=$dir/$prog
        if [[ ! -x $bin || $src -nt $bin || $c_dir/common.h -nt $bin || $c_dir/echo_common.h -nt $bin ]]; then
            "${CC:-cc}" -O2 -Wall -Wextra -o "$bin" "$src" -luv -lpthread >&2 ||
                { log "libuv: building $src failed"; rm -f "$bin"; }
        fi
    done
}

# need_valgrind: installs valgrind if it is missing.
need_valgrind() {
    command -v valgrind >/dev/null && return 0
    log "installing valgrind"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } >&2
}

# build_bench_tools <root> <json file> <bin...>: builds the named programs of the
# evloop-bench-tools package (benches/tools: the load client and the raw mio peers) in release,
# appending cargo's JSON messages to <json file> for `artifact`; status 1 if the build failed.
build_bench_tools() {
    local root=$1 json=$2 bin
    shift 2
    local args=()
    for bin in "$@"; do args+=(--bin "$bin"); done
    (cd "$root" && timeout 1200 cargo build --release -p evloop-bench-tools "${args[@]}" \
        --message-format=json) >>"$json"
}

# build_net_bins <root> <scratch dir>: builds the networking benchmark programs in release and
# sets client, mio_bin, peer_workloads and evloop_echo to their paths (exits on failure).
build_net_bins() {
    local root=$1 scratch=$2
    log "building (release): net_client, mio_echo, peer_workloads, examples/echo"
    : >"$scratch/cargo.json"
    build_bench_tools "$root" "$scratch/cargo.json" net_client mio_echo 2>"$scratch/cargo.err" ||
        { tail -n 20 "$scratch/cargo.err" >&2; log "building benches/tools failed"; exit 1; }
    (cd "$root" && timeout 1200 cargo bench --no-run --bench peer_workloads --message-format=json) \
        >>"$scratch/cargo.json" 2>"$scratch/cargo.err" ||
        { tail -n 20 "$scratch/cargo.err" >&2; log "cargo bench --no-run failed"; exit 1; }
    (cd "$root" && timeout 1200 cargo build --release --example echo --message-format=json) \
        >>"$scratch/cargo.json" 2>"$scratch/cargo.err" ||
        { tail -n 20 "$scratch/cargo.err" >&2; log "cargo build --example echo failed"; exit 1; }
    client=$(artifact "$scratch/cargo.json" net_client)
    mio_bin=$(artifact "$scratch/cargo.json" mio_echo)
    peer_workloads=$(artifact "$scratch/cargo.json" peer_workloads)
    evloop_echo=$(artifact "$scratch/cargo.json" echo)
}

# scratch_and_cleanup: makes a scratch directory ($tmp) and arranges that every process whose
# pid is added to the pids array is killed, and the directory removed, when the script exits.
scratch_and_cleanup() {
    tmp=$(mktemp -d)
    pids=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}

# Prints the address a server logged as "listening on ADDR" in file $1, waiting up to 30 s;
# prints nothing (status 1) if it never did.
wait_listening() {
    local addr="" i
    for i in $(seq 600); do
        addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$1" | head -n 1)
        [[ -n $addr ]] && break
        sleep 0.05
    done
    [[ -n $addr ]] && printf '%s\n' "$addr"
}
