#!/usr/bin/env bash
# The agent's storages in real VMs, driven through vm-probe --calls (JSON calls
# of tests/tools/agent_calls.h): CreateSandbox mounts the sandbox share (virtio-fs
# on microvm, 9p on q35), a block device (virtio-mmio /dev/vda attached at boot;
# a disk hotplugged on q35 and found by its PCI path "18/00"), binds of host
# directories seen through them, tmpfs and an overlay.  CopyFile writes into
# the share (directly and through a bind) and the files must appear on the
# host; a bind of a directory that exists only on the host proves the guest
# sees the host's files; a write into the read-only disk fails cleanly.
# Nothing (QEMU, virtiofsd, sockets, temp dirs) is left behind.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
assets=$(bash "$top/guest/build-assets.sh" | tail -1)
probe=$top/build/tests/tools/vm-probe
work=$(mktemp -d /tmp/test_vm_agent_sandbox.XXXXXX)
R=/run/kata-containers
fail=0

leftovers() { pgrep -f "$work" || true; }
cleanup() {
  for pid in $(leftovers); do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/share/fromhost" "$work/disk/hostdir"
echo from-host >"$work/share/fromhost/hello"
echo on-disk >"$work/disk/hostdir/disk-hello"
truncate -s 16M "$work/disk.img"
mkfs.ext4 -q -F -d "$work/disk" "$work/disk.img"
cp "$work/disk.img" "$work/hot.img"

run() { # name, calls file, vm-probe args...
  local name=$1 calls=$2
  shift 2
  local out
  if ! out=$(timeout 300 "$probe" --json --timeout 240 --run-dir "$work/run-$name" \
    --kernel "$assets/vmlinux" --initrd "$assets/kata-agent-initrd.img" --calls "$calls" "$@"); then
    echo "FAIL $name: vm-probe failed"
    fail=1
    return
  fi
  echo "$name:"
  echo "$out" | sed 's/^/  /'
  if [ -n "$(leftovers)" ]; then
    echo "FAIL $name: processes left: $(leftovers | xargs -r ps -o pid=,args= -p)"
    fail=1
  fi
}

expect_file() { # path, content
  if [ "$(cat "$1" 2>/dev/null)" != "$2" ]; then
    echo "FAIL: $1 holds '$(cat "$1" 2>/dev/null)', expected '$2'"
    fail=1
  else
    echo "ok: $1"
  fi
}

cat >"$work/calls-virtiofs" <<CALLS
CreateSandbox {"hostname":"vmpod","sandbox_id":"vm1","dns":["nameserver 10.0.2.3"],"storages":[{"driver":"virtio-fs","source":"kataShared","fstype":"virtiofs","mount_point":"$R/shared"},{"driver":"bind","source":"$R/shared/fromhost","mount_point":"$R/check"},{"driver":"mmioblk","source":"/dev/vda","fstype":"ext4","options":["ro"],"mount_point":"$R/disk"},{"driver":"bind","source":"$R/disk/hostdir","mount_point":"$R/check-disk"},{"driver":"local","options":["mode=0700"],"mount_point":"$R/local"}]}
!ALREADY_EXISTS CreateSandbox {}
CopyFile {"path":"$R/shared/fromguest/hello.txt","file_size":11,"file_mode":33188,"data":{"@text":"from-guest\n"}}
CopyFile {"path":"$R/check/viabind.txt","file_size":12,"file_mode":33188,"offset":0,"data":{"@text":"through-"}}
CopyFile {"path":"$R/check/viabind.txt","file_size":12,"file_mode":33188,"offset":8,"data":{"@text":"bind"}}
!INTERNAL CopyFile {"path":"$R/check-disk/new.txt","file_size":1,"data":{"@text":"x"}}
!INVALID_ARGUMENT CopyFile {"path":"/etc/passwd","file_size":1,"data":{"@text":"x"}}
SetGuestDateTime {"Sec":$(date +%s)}
OnlineCPUMem {"nb_cpus":0}
ListInterfaces {}
ListRoutes {}
CALLS
run microvm-virtiofs-mmioblk "$work/calls-virtiofs" --machine microvm --virtiofs "$work/share" \
  --block "$work/disk.img"
expect_file "$work/share/fromguest/hello.txt" from-guest
expect_file "$work/share/fromhost/viabind.txt" through-bind

# A bind of a directory the host does not have fails, and undoes the share.
cat >"$work/calls-9p" <<CALLS
!INTERNAL CreateSandbox {"storages":[{"driver":"9p","source":"kataShared","mount_point":"$R/shared"},{"driver":"bind","source":"$R/shared/not-on-host","mount_point":"$R/x"}]}
CreateSandbox {"sandbox_id":"vm2","storages":[{"driver":"9p","source":"kataShared","fstype":"9p","options":["nodev"],"mount_point":"$R/shared"},{"driver":"bind","source":"$R/shared/fromhost","mount_point":"$R/check"},{"driver":"blk","source":"18/00","fstype":"ext4","options":["ro"],"mount_point":"$R/hot"},{"driver":"bind","source":"$R/hot/hostdir","mount_point":"$R/check-hot"},{"driver":"ephemeral","mount_point":"$R/eph"},{"driver":"overlayfs","options":["lowerdir=$R/check-hot","upperdir=$R/eph/up","workdir=$R/eph/work"],"mount_point":"$R/merged"}]}
CopyFile {"path":"$R/shared/fromguest9p/hello.txt","file_size":3,"file_mode":33188,"data":{"@text":"9p\n"}}
CopyFile {"path":"$R/check/viabind9p.txt","file_size":4,"file_mode":33188,"data":{"@text":"bnd\n"}}
CopyFile {"path":"$R/merged/over.txt","file_size":1,"file_mode":33188,"data":{"@text":"o"}}
CALLS
run q35-9p-hotplug-blk "$work/calls-9p" --machine q35 --share9p "$work/share" --hotplug "$work/hot.img"
expect_file "$work/share/fromguest9p/hello.txt" 9p
expect_file "$work/share/fromhost/viabind9p.txt" bnd
if [ -e "$work/share/not-on-host" ] || [ -e "$work/share/x" ]; then
  echo "FAIL: the failed CreateSandbox created files in the share"
  fail=1
fi
exit $fail
