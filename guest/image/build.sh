#!/usr/bin/env bash
# Build a guest rootfs image: ext4, made without mounting (mkfs.ext4 -d).
#
# Usage: guest/image/build.sh --init BINARY --out FILE [--size-mb N] [--add SRC:DEST ...]
#
# Contents: the binary as /sbin/init and /init (mode 0755), empty directories
# /dev /proc /sys /run /tmp /etc /mnt /sbin, and every --add SRC:DEST (a file or
# a directory tree, copied with its permission bits). No device nodes: the
# kernel mounts devtmpfs on /dev before starting init (CONFIG_DEVTMPFS_MOUNT).
# Boot it as a virtio-blk root: root=/dev/vda rw init=/sbin/init
# (add rootfstype=ext4 to skip probing).
#
# Needs no root: every inode is then owned by 0:0 (debugfs). Reproducible:
# timestamps ${SOURCE_DATE_EPOCH:-1}, UUID and directory hash seed derived from
# the contents. Default size 64 MB (sparse file). The output appears atomically.
set -euo pipefail
export LC_ALL=C

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "image/build.sh: error: $*" >&2; exit 1; }

init="" out="" size_mb=64 adds=()
while [ $# -gt 0 ]; do
  case $1 in
    --init) init=${2:?--init needs a file}; shift ;;
    --out) out=${2:?--out needs a file}; shift ;;
    --size-mb) size_mb=${2:?--size-mb needs a number}; shift ;;
    --add) adds+=("${2:?--add needs SRC:DEST}"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
[ -n "$init" ] && [ -n "$out" ] || { usage >&2; die "--init and --out are required"; }
[ -f "$init" ] || die "init binary not found: $init"
[[ $size_mb =~ ^[0-9]+$ ]] && [ "$size_mb" -ge 8 ] || die "--size-mb must be a number >= 8"
mkfs=$(PATH=$PATH:/sbin:/usr/sbin command -v mkfs.ext4) || die "mkfs.ext4 not found (apt-get install e2fsprogs)"
debugfs=$(PATH=$PATH:/sbin:/usr/sbin command -v debugfs) || die "debugfs not found (apt-get install e2fsprogs)"

# Every timestamp in the image. (Not 0: e2fsprogs reads E2FSPROGS_FAKE_TIME=0
# as "unset" and uses the clock.)
fstime=${SOURCE_DATE_EPOCH:-1}
[ "$fstime" -gt 0 ] 2>/dev/null || fstime=1
work=$(mktemp -d "${TMPDIR:-/tmp}/kata-image.XXXXXX")
tmp="$out.tmp.$$"
trap 'rm -rf "$work" "$tmp"' EXIT
root="$work/root"
mkdir -p "$root"
for d in dev proc sys run tmp etc mnt sbin; do mkdir -p "$root/$d"; done
chmod 0755 "$root" "$root"/*
chmod 1777 "$root/tmp"
install -m 0755 "$init" "$root/sbin/init"
install -m 0755 "$init" "$root/init"
for a in "${adds[@]+"${adds[@]}"}"; do
  [[ $a == *:* ]] || die "--add wants SRC:DEST, got: $a"
  src=${a%%:*} dest=${a#*:}
  [ -e "$src" ] || die "--add: missing source: $src"
  mkdir -p "$root/$(dirname "/${dest#/}")"
  cp -a --no-preserve=ownership "$src" "$root/${dest#/}"
done
find "$root" -exec touch -h -d "@$fstime" {} +

# UUID and hash seed from the contents (paths, modes, bytes), so the same inputs
# give the same image.
sum=$( (cd "$root" && find . -printf '%P %m %y %l\n' | sort && find . -type f -print0 | sort -z | xargs -0 cat) |
       sha256sum | cut -c1-32)
uuid="${sum:0:8}-${sum:8:4}-4${sum:13:3}-8${sum:17:3}-${sum:20:12}"

rm -f "$tmp"
truncate -s "${size_mb}M" "$tmp"
E2FSPROGS_FAKE_TIME=$fstime "$mkfs" -q -F -t ext4 -b 4096 -L kata-rootfs -U "$uuid" \
  -E "root_owner=0:0,hash_seed=$uuid,lazy_itable_init=0,lazy_journal_init=0" \
  -d "$root" "$tmp" >&2 || die "mkfs.ext4 failed (is --size-mb $size_mb big enough?)"

# Fix what mkfs takes from the clock or the caller: the superblock times, the
# access/change/creation times of every inode (mkfs -d copies them from the
# staging tree, and ctime cannot be set there) and, when not run by root, the
# owner of every copied inode.
{
  for f in mkfs_time wtime lastcheck; do echo "ssv $f @$fstime"; done
  (cd "$root" && find . -mindepth 1 -printf '/%P\n'; echo /; echo /lost+found) |
    while IFS= read -r p; do
      for f in atime ctime mtime crtime; do printf 'sif "%s" %s @%s\n' "$p" "$f" "$fstime"; done
      if [ "$(id -u)" != 0 ]; then printf 'sif "%s" uid 0\nsif "%s" gid 0\n' "$p" "$p"; fi
    done
} > "$work/fixups"
E2FSPROGS_FAKE_TIME=$fstime "$debugfs" -w -f "$work/fixups" "$tmp" > "$work/debugfs.log" 2>&1 ||
  { cat "$work/debugfs.log" >&2; die "debugfs fixups failed"; }
mv -f "$tmp" "$out"
trap 'rm -rf "$work"' EXIT
echo "image/build.sh: wrote $out (${size_mb} MB ext4, uuid $uuid)" >&2
