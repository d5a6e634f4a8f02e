#!/usr/bin/env bash
# Build every guest asset the tests and the main job boot, into build/guest/
# (or $KATA_ASSETS_DIR), and print that directory:
#   vmlinux, bzImage, kernel-release   the guest kernel (cached by guest/kernel/build.sh)
#   kata-agent                         the static agent, stripped
#   kata-agent-initrd.img              uncompressed initrd, /init = kata-agent
#   kata-agent-rootfs.img              ext4 image, /sbin/init = kata-agent
#   marker-init, marker-initrd.img     the bare init of the boot benchmark
# Needs `make all` first (the musl agent).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${KATA_ASSETS_DIR:-$top/build/guest}
mkdir -p "$out"

kdir=$(bash "$top/guest/kernel/build.sh")
ln -sfn "$kdir/vmlinux" "$out/vmlinux"
ln -sfn "$kdir/bzImage" "$out/bzImage"
cp "$kdir/release" "$out/kernel-release"

agent_src=$top/build-agent/src/agent/kata-agent
if [ ! -x "$agent_src" ]; then
  echo "build-assets: $agent_src is missing: run make all first" >&2
  exit 1
fi
strip -o "$out/kata-agent.new" "$agent_src"
mv "$out/kata-agent.new" "$out/kata-agent"

musl-gcc -static -Os -s -o "$out/marker-init" "$top/guest/marker-init.c"

# Rebuild an initrd or image only when its init binary changed.
build_if_changed() { # builder init out
  local builder=$1 init=$2 dest=$3 stamp="$3.sum"
  local sum
  sum=$(cat "$init" "$top/guest/$builder/build.sh" | sha256sum | cut -d' ' -f1)
  if [ -f "$dest" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    return
  fi
  bash "$top/guest/$builder/build.sh" --init "$init" --out "$dest" >&2
  echo "$sum" > "$stamp"
}
build_if_changed initrd "$out/kata-agent" "$out/kata-agent-initrd.img"
build_if_changed initrd "$out/marker-init" "$out/marker-initrd.img"
build_if_changed image "$out/kata-agent" "$out/kata-agent-rootfs.img"
echo "$out"
