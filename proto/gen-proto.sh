#!/bin/sh
# gen-proto.sh PROTOC_C SRCDIR FILE OUTDIR: run protoc-c on SRCDIR/FILE and flatten the
# output into OUTDIR (meson wants outputs directly in the target's directory).
set -e
protoc=$1 src=$2 file=$3 out=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$protoc" --c_out="$tmp" -I"$src" "$src/$file"
base=${file%.proto}
name=${base##*/}
# Generated code includes imports by their path ("google/rpc/status.pb-c.h");
# flatten those includes to match the flattened output.
for ext in c h; do
  sed -E 's@#include "([^"]*/)?([^/"]+\.pb-c\.h)"@#include "\2"@' "$tmp/$base.pb-c.$ext" > "$out/$name.pb-c.$ext"
done
