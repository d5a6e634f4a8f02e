#!/usr/bin/env bash
# Build the guest kernel from Debian's linux-source-6.1: tinyconfig + every
# fragment in guest/kernel/fragments/, all built in, no modules.
#
# Usage: guest/kernel/build.sh [--force] [--print-hash] [--config-only DIR] [--jobs N]
#
# Output (the only thing printed on stdout): the cache directory
#   ${KATA_GUEST_CACHE:-/var/cache/kata-containers-c}/kernel/<hash>/
#     vmlinux   uncompressed ELF, booted through its PVH entry (qemu -kernel vmlinux)
#     bzImage   compressed kernel for loaders without PVH support
#     config    the final .config
#     release   the kernel release string (`uname -r` in the guest)
# <hash> covers the installed linux-source-6.1 package version, every fragment
# (name and content) and this script. A complete cache directory is never
# rebuilt (unless --force); it appears atomically (built under a temporary name
# and renamed), so an interrupted build leaves no half cache. Concurrent runs
# for the same hash wait for each other (flock) instead of building twice.
#
# The build fails, listing them, when an option requested by a fragment does not
# survive `make olddefconfig` with the requested value (missing dependency,
# renamed symbol, typo).
#
#   --print-hash       print the hash and exit
#   --force            rebuild even when the cache is complete
#   --config-only DIR  only generate and check the config in a fresh tree under
#                      DIR (kept, for iterating on fragments); prints DIR/.config
#   --jobs N           make -jN (default: nproc)
#
# Progress goes to stderr; the full make output to <cache root>/kernel/<hash>.log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
frag_dir="$here/fragments"
src_pkg=linux-source-6.1
src_tar=${KATA_KERNEL_SOURCE_TAR:-/usr/src/linux-source-6.1.tar.xz}
cache_root=${KATA_GUEST_CACHE:-/var/cache/kata-containers-c}
kcache="$cache_root/kernel"

force=0 print_hash=0 config_only="" jobs=$(nproc)
while [ $# -gt 0 ]; do
  case $1 in
    --force) force=1 ;;
    --print-hash) print_hash=1 ;;
    --config-only) config_only=${2:?--config-only needs a directory}; shift ;;
    --jobs|-j) jobs=${2:?--jobs needs a number}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "kernel/build.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "kernel/build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Long steps (tar, make) run as background children that a signal can stop at
# once: bash defers traps while a foreground command runs, so a SIGTERM would
# otherwise wait for the whole make. make passes SIGTERM on to its jobs.
child=""
run() {
  "$@" &
  child=$!
  local st=0
  wait "$child" || st=$?
  child=""
  return $st
}
on_signal() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit 130
}
trap on_signal INT TERM HUP

shopt -s nullglob
fragments=("$frag_dir"/*.conf)
shopt -u nullglob
[ ${#fragments[@]} -gt 0 ] || die "no fragments in $frag_dir"

pkg_version=$(dpkg-query -W -f='${Version}' "$src_pkg" 2>/dev/null) ||
  die "package $src_pkg is not installed (apt-get install $src_pkg)"

compute_hash() { # (few processes: this runs on every cached call)
  {
    printf 'package %s %s\n' "$src_pkg" "$pkg_version"
    (cd "$frag_dir" && sha256sum -- *.conf)
    sha256sum < "$self"
  } | sha256sum | cut -c1-16
}
hash=$(compute_hash)
if [ $print_hash = 1 ]; then
  echo "$hash"
  exit 0
fi

out="$kcache/$hash"
complete() { [ -s "$1/vmlinux" ] && [ -s "$1/bzImage" ] && [ -s "$1/config" ] && [ -s "$1/release" ]; }

# Fast path: a complete cache, nothing to take or wait for.
if [ -z "$config_only" ] && [ $force = 0 ] && complete "$out"; then
  echo "$out"
  exit 0
fi

# Normalise the fragments for Kconfig: our lines carry a trailing "# why" comment
# that Kconfig would read as part of the value. Writes "CONFIG_X=val" and
# "# CONFIG_X is not set" lines only.
normalise_fragment() { # in out
  sed -E \
    -e 's/^(CONFIG_[A-Za-z0-9_]+=("[^"]*"|[^[:space:]#]*))[[:space:]]*(#.*)?$/\1/' \
    -e 's/^#[[:space:]]*(CONFIG_[A-Za-z0-9_]+) is not set.*$/# \1 is not set/' \
    -e '/^#[[:space:]]*CONFIG_[A-Za-z0-9_]+ is not set$/b' \
    -e '/^#/d' -e '/^[[:space:]]*$/d' "$1" > "$2"
  local bad
  bad=$(grep -vE '^(CONFIG_[A-Za-z0-9_]+=.*|# CONFIG_[A-Za-z0-9_]+ is not set)$' "$2" || true)
  [ -z "$bad" ] || die "$(basename "$1"): lines Kconfig cannot read: $bad"
}

# Every option requested by the fragments, as "SYMBOL<TAB>value" with value "n"
# for "is not set". Fails on two fragments asking for different values.
requested_options() { # normalised fragments...
  awk '
    /^CONFIG_/ { i = index($0, "="); sym = substr($0, 1, i - 1); val = substr($0, i + 1) }
    /^# CONFIG_/ { sym = $2; val = "n" }
    {
      if (sym in want && want[sym] != val) {
        printf "conflict: %s=%s (%s) vs %s (%s)\n", sym, want[sym], from[sym], val, FILENAME > "/dev/stderr"
        bad = 1
      }
      want[sym] = val; from[sym] = FILENAME
    }
    END { for (s in want) print s "\t" want[s]; exit bad }' "$@" | sort
}

# Checks that every requested option has the requested value in .config.
check_config() { # config normalised-fragments...
  local config=$1; shift
  local req missing=0 sym val got
  req=$(requested_options "$@") || die "fragments disagree (see above)"
  while IFS=$'\t' read -r sym val; do
    got=$(grep -E "^$sym=" "$config" | tail -n1 | cut -d= -f2- || true)
    [ -n "$got" ] || got=n
    if [ "$got" != "$val" ]; then
      echo "  $sym: requested $val, got $got" >&2
      missing=$((missing + 1))
    fi
  done <<< "$req"
  if [ $missing -gt 0 ]; then
    log "error: $missing requested option(s) did not survive make olddefconfig (listed above);"
    log "       check their dependencies with: make menuconfig, then / SYMBOL"
    return 1
  fi
  log "config: all $(wc -l <<< "$req") requested options have their requested value"
}

# Extracts the source under $1 and generates + checks .config there.
make_config() { # workdir logfile
  local wdir=$1 logf=$2
  log "extracting $src_tar ($pkg_version)"
  mkdir -p "$wdir"
  run tar -xJf "$src_tar" -C "$wdir"
  local tree="$wdir/linux-source-6.1"
  [ -f "$tree/Makefile" ] || die "unexpected tarball layout: no $tree/Makefile"
  mkdir -p "$wdir/fragments"
  local f norm=()
  for f in "${fragments[@]}"; do
    normalise_fragment "$f" "$wdir/fragments/$(basename "$f")"
    norm+=("$wdir/fragments/$(basename "$f")")
  done
  log "make tinyconfig + ${#norm[@]} fragments + olddefconfig"
  {
    make -C "$tree" ARCH=x86_64 tinyconfig
    (cd "$tree" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config "${norm[@]}")
    make -C "$tree" ARCH=x86_64 olddefconfig
  } >> "$logf" 2>&1 || { tail -n 30 "$logf" >&2; die "config generation failed (log: $logf)"; }
  check_config "$tree/.config" "${norm[@]}"
}

if [ -n "$config_only" ]; then
  rm -rf "$config_only"
  make_config "$config_only" "$config_only.log"
  echo "$config_only/linux-source-6.1/.config"
  exit 0
fi

mkdir -p "$kcache"
exec 9> "$kcache/.$hash.lock"
flock 9
# Someone else may have finished the same build while we waited.
if [ $force = 0 ] && complete "$out"; then
  echo "$out"
  exit 0
fi

# We hold the lock for this hash: any work dir for it is left from a killed build.
rm -rf "$kcache/.work-$hash".* "$kcache/.old-$hash".*
build_tmp=$(mktemp -d "$kcache/.work-$hash.XXXXXX")
stage="$build_tmp/out"
cleanup() { rm -rf "$build_tmp"; }  # (a global name no function shadows)
trap cleanup EXIT

logf="$kcache/$hash.log"
: > "$logf"
log "building kernel $hash (log: $logf)"
make_config "$build_tmp/src" "$logf"
tree="$build_tmp/src/linux-source-6.1"

export KBUILD_BUILD_USER=kata KBUILD_BUILD_HOST=kata-containers-c
start=$(date +%s)
log "make -j$jobs vmlinux bzImage (about 12 minutes with 2 cores under no KVM)"
if ! run make -C "$tree" ARCH=x86_64 -j"$jobs" vmlinux bzImage >> "$logf" 2>&1; then
  grep -E 'error|Error' "$logf" | tail -n 20 >&2 || true
  die "kernel build failed (log: $logf)"
fi
log "built in $(( $(date +%s) - start )) s"

mkdir -p "$stage"
cp "$tree/vmlinux" "$stage/vmlinux"
cp "$tree/arch/x86/boot/bzImage" "$stage/bzImage"
cp "$tree/.config" "$stage/config"
make -s -C "$tree" ARCH=x86_64 kernelrelease > "$stage/release" 2>> "$logf"
grep -q . "$stage/release" || die "empty kernel release"
# The PVH entry note must be there, or `qemu -kernel vmlinux` refuses the ELF.
# (Only a warning: readelf's wording of unknown Xen notes may change.)
if command -v readelf >/dev/null &&
   ! readelf -n "$stage/vmlinux" 2>/dev/null | grep -A1 -E '^ *Xen ' | grep -qiE '0x0*12\b|PHYS32'; then
  log "warning: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) found in vmlinux by readelf"
fi
sync -f "$stage/vmlinux" 2>/dev/null || true

if [ -e "$out" ]; then
  old="$kcache/.old-$hash.$$"
  mv -T "$out" "$old"
  mv -T "$stage" "$out"
  rm -rf "$old"
else
  mv -T "$stage" "$out"
fi
log "done: $out ($(cat "$out/release"))"
echo "$out"
