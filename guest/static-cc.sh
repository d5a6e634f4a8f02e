#!/usr/bin/env bash
# Compile a one-file guest program (marker-init, test inits) into a small static
# binary with musl: guest/static-cc.sh SOURCE.c OUTPUT [extra cc flags...]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 SOURCE.c OUTPUT [cflags...]" >&2; exit 2; }
src=$1 out=$2; shift 2
cc=${MUSL_CC:-musl-gcc}
command -v "$cc" >/dev/null || { echo "static-cc.sh: $cc not found (apt-get install musl-tools)" >&2; exit 1; }
"$cc" -static -Os -s -Wall -Wextra -Werror -o "$out.tmp.$$" "$src" "$@"
mv -f "$out.tmp.$$" "$out"
