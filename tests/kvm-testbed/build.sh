#!/usr/bin/env bash
# Build (or find cached) the KVM test bed's boot assets and print their directory:
#
#   ${KATA_GUEST_CACHE:-/var/cache/kata-containers-c}/testbed/<hash>/
#     vmlinux      Debian's kernel, decompressed from /boot/vmlinuz-<ver> (booted
#                  through its PVH entry: decompressing xz under TCG costs seconds)
#     initrd.img   uncompressed newc: busybox-static, tests/kvm-testbed/init, and
#                  the modules of MODULES below with their modules.dep closure
#     release      the kernel release (<ver>)
#
# Usage: tests/kvm-testbed/build.sh [--kernel-version VER] [--print-hash]
#
# VER defaults to $KVM_TESTBED_KERNEL_VERSION, else the newest installed
# /boot/vmlinuz-*-amd64 (package linux-image-amd64; scripts/install-deps.sh).
# <hash> covers VER, the vmlinuz and busybox binaries, the init script, the module
# list and this script. The directory is built beside its final name and renamed
# into place, so it is complete or absent.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache_root=${KATA_GUEST_CACHE:-/var/cache/kata-containers-c}/testbed
die() { echo "kvm-testbed/build.sh: error: $*" >&2; exit 1; }

# Modules the init loads at boot, in this order (each after its dependencies):
# virtio PCI transport and the consoles/shares the test bed needs to start, then
# what the tests use: KVM (AMD: QEMU's TCG emulates SVM), vhost-vsock and
# vhost-net, tun/tap, FUSE and virtio-fs, virtio-blk, overlay.
MODULES=(virtio_pci virtio_console 9pnet_virtio 9p overlay
  kvm_amd vhost_vsock vhost_net tun fuse virtiofs virtio_blk)

version=${KVM_TESTBED_KERNEL_VERSION:-}
print_hash=0
while [ $# -gt 0 ]; do
  case $1 in
    --kernel-version) version=${2:?--kernel-version needs a release}; shift ;;
    --print-hash) print_hash=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done

if [ -z "$version" ]; then
  version=$(cd /boot 2>/dev/null && ls vmlinuz-*-amd64 2>/dev/null | sed 's/^vmlinuz-//' | sort -V | tail -n1 || true)
  [ -n "$version" ] || die "no /boot/vmlinuz-*-amd64: install linux-image-amd64 (scripts/install-deps.sh)"
fi
vmlinuz=/boot/vmlinuz-$version
moddir=/lib/modules/$version
[ -r "$vmlinuz" ] || die "kernel \`$vmlinuz\` not readable"
[ -r "$moddir/modules.dep" ] || die "modules \`$moddir/modules.dep\` not readable"
busybox=${KVM_TESTBED_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "\`$busybox\` missing: install busybox-static"
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
  die "\`$busybox\` is not statically linked: install busybox-static"
fi

hash=$({
  echo "$version ${MODULES[*]}"
  sha256sum "$vmlinuz" "$busybox" "$here/init" "$0" | cut -d' ' -f1
  cat "$top/guest/initrd/build.sh"
} | sha256sum | cut -c1-16)
if [ $print_hash = 1 ]; then
  echo "$hash"
  exit 0
fi
dest=$cache_root/$hash
if [ -f "$dest/initrd.img" ] && [ -f "$dest/vmlinux" ]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.work-$hash.XXXXXX")
trap 'rm -rf "$work"' EXIT

# vmlinux: the payload of the bzImage is one compressed stream; find its magic
# and decompress from there (what the kernel's scripts/extract-vmlinux does).
extract() { # magic-as-grep-pattern decompressor...
  local magic=$1 off
  shift
  for off in $(grep -aboP "$magic" "$vmlinuz" | cut -d: -f1); do
    tail -c +$((off + 1)) "$vmlinuz" | "$@" > "$work/vmlinux" 2>/dev/null || true
    if [ -s "$work/vmlinux" ] && head -c4 "$work/vmlinux" | grep -q 'ELF'; then
      return 0
    fi
  done
  return 1
}
extract '\xFD7zXZ\x00' xz -dc || extract '\x1F\x8B\x08' gzip -dc \
  || die "could not find a compressed vmlinux (xz or gzip) in \`$vmlinuz\`"
echo "$version" > "$work/release"

# Module closure in load order: dependencies first (modules.dep lists them so
# that the last one is loaded first).
declare -A seen=()
order=()
modpath() { # name -> relative path in modules.dep
  local pat=${1//[-_]/[-_]}
  grep -oE "^[^:]*/${pat}\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n1 | sed 's/:$//'
}
add_module() { # relative path
  local rel=$1 line deps i
  [ -z "${seen[$rel]+x}" ] || return 0
  seen[$rel]=1
  line=$(grep -E "^${rel//./\\.}:" "$moddir/modules.dep")
  read -ra deps <<< "${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add_module "${deps[i]}"; done
  order+=("$rel")
}
for m in "${MODULES[@]}"; do
  if grep -qE "/${m//[-_]/[-_]}\.ko$" "$moddir/modules.builtin" 2>/dev/null; then
    continue # built into this kernel
  fi
  rel=$(modpath "$m")
  [ -n "$rel" ] || die "module \`$m\` not in \`$moddir/modules.dep\`"
  add_module "$rel"
done

mkdir -p "$work/root/testbed/modules"
adds=(--add "$busybox:/testbed/busybox" --add "$work/root/testbed/modules:/testbed/modules")
: > "$work/modules.order"
for rel in "${order[@]}"; do
  name=${rel##*/}
  case $name in
    *.ko) cp "$moddir/$rel" "$work/root/testbed/modules/$name" ;;
    *.ko.xz) xz -dc "$moddir/$rel" > "$work/root/testbed/modules/${name%.xz}"; name=${name%.xz} ;;
    *.ko.zst) zstd -qdc "$moddir/$rel" > "$work/root/testbed/modules/${name%.zst}"; name=${name%.zst} ;;
    *.ko.gz) gzip -dc "$moddir/$rel" > "$work/root/testbed/modules/${name%.gz}"; name=${name%.gz} ;;
  esac
  echo "$name" >> "$work/modules.order"
done
cp "$work/modules.order" "$work/root/testbed/modules.order"
echo "$version" > "$work/root/testbed/release"
adds+=(--add "$work/root/testbed/modules.order:/testbed/modules.order"
  --add "$work/root/testbed/release:/testbed/release")
bash "$top/guest/initrd/build.sh" --init "$here/init" --out "$work/initrd.img" "${adds[@]}" 2> >(grep -v "does not look statically linked" >&2)
rm -rf "$work/root"

rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "kvm-testbed/build.sh: built $dest (kernel $version, ${#order[@]} modules)" >&2
echo "$dest"
