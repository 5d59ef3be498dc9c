#!/usr/bin/env bash
# Prepares running x86_64-pc-windows-gnu test binaries under wine on Debian: installs mingw-w64
# and wine64 (unless present), creates a wine prefix, builds the ProcessPrng shim (see
# wine-shim/bcryptprimitives.c) and installs it in the prefix's system32. Prints the cargo
# runner to use. Any failure (no network for apt, no loader, a prefix that does not start)
# exits non-zero: a Windows step that cannot run must fail, never pass by skipping.
set -euo pipefail
cd "$(dirname "$0")"
# Only the loader's path goes to stdout (the caller captures it); everything else to stderr.
exec 3>&1 1>&2

if ! command -v x86_64-w64-mingw32-gcc >/dev/null || ! dpkg -s wine64 >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mingw-w64 wine64 >/dev/null
fi
# Debian's wine64 package puts no wine64 on PATH; its loader lives under /usr/lib/wine.
loader=$(dpkg -L wine64 | grep -E '/wine64$' | head -n1)
[ -x "$loader" ] || { echo "wine-setup: no wine64 loader in the wine64 package" >&2; exit 1; }

export WINEPREFIX="${WINEPREFIX:-$HOME/.wine-evloop}"
export WINEDEBUG=-all
server="$(dirname "$loader")/wineserver"
[ -x "$server" ] || { echo "wine-setup: no wineserver beside $loader" >&2; exit 1; }
"$loader" wineboot --init >/dev/null 2>&1 3>&-
"$server" -w 3>&-
# One persistent server for the whole run: with the default 3 s linger, a test binary that
# starts while the previous one's server is exiting dies with "wine client error: recvmsg".
# (The server daemonizes: it must not inherit the caller's stdout pipe, or `$(...)` waits for it.)
"$server" -p30 </dev/null >/dev/null 2>&1 3>&-
sys32="$WINEPREFIX/drive_c/windows/system32"
[ -d "$sys32" ] || { echo "wine-setup: prefix $WINEPREFIX has no system32" >&2; exit 1; }
x86_64-w64-mingw32-gcc -shared -O2 -Wall -Werror -o "$sys32/bcryptprimitives.dll" \
    wine-shim/bcryptprimitives.c -ladvapi32 -Wl,--kill-at
echo "$loader" >&3
