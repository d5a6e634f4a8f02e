#!/usr/bin/env bash
# The built-in VMM's virtio devices with a real guest, checked from inside the
# KVM test bed (run by tests/integration/test_vmm_devices.sh):
#   - kata-vmm boots our kernel and agent initrd on 2 vCPUs with virtio-rng,
#     eight virtio-blk disks (two ext4, one of them read-only, and six
#     blank ones), two virtio-fs shares (virtiofsd over vhost-user) and
#     hybrid vsock, all virtio-mmio and announced on the kernel command line
#     (--mmio-cmdline: an MP table and acpi=noirq), which puts vsock on
#     IRQ 16, past the ISA range; every device probes, both CPUs come up;
#   - every kata-vmm thread runs under its seccomp filter;
#   - a host-side client reaches the agent through the hybrid vsock socket
#     ("CONNECT 1024" -> "OK <port>") and it answers grpc.Health/Check;
#   - the agent mounts the ext4 disk /dev/vda read-write and /dev/vdb
#     read-only (CreateSandbox mmioblk storages), binds a directory that only
#     the disk holds, writes a file into /dev/vda (CopyFile) and fails to
#     write into /dev/vdb; it mounts the virtio-fs share, binds a directory
#     only the host has, writes a file through it that the host then reads;
#     after DestroySandbox (unmount, power off) the
#     host finds the file in the image: reads, writes and flushes went
#     through virtio-blk;
#   - the guest powers off, kata-vmm exits 0, its socket is gone;
#   - the `dragonball` hypervisor driver (src/hypervisor/dragonball.c) runs
#     kata-vmm for vm-probe with 2 vCPUs through its control socket: the
#     agent answers, the guest has both CPUs online (devices on the kernel
#     command line through the configuration too), vm.pause / vm.info /
#     vm.resume work and the agent still answers after, a virtio-fs share
#     (the driver starts virtiofsd) takes a file from the guest, all four
#     kata-vmm threads (API, device, 2 vCPUs) run under seccomp after the
#     pause and resume, kata-vmm exits 0 at power-off, stop leaves nothing;
#     a 9p share is refused with a message naming shared_fs;
#   - kata-vmm --api-socket driven with curl: after vm.boot every thread,
#     the API thread included, runs under its filter; pause, info, resume
#     and vm.shutdown work under them (exit 0, sockets removed), and so does
#     a stop by SIGTERM.
# Prints "ok N - ..." / "not ok N - ..." lines and exits 1 if any failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/kvm-testbed/checks.sh"
build=${1:-$top/build}
assets=$top/build/guest
vmm=$build/src/vmm/kata-vmm
ctl=$build/tests/tools/agent-ctl
R=/run/kata-containers
# Unix sockets need a local file system (the shares are 9p).
work=$(mktemp -d /tmp/vmm-devices.XXXXXX)
vmm_pid=
fsd_pid=
fsd2_pid=
cleanup() {
  [ -z "$vmm_pid" ] || kill -9 "$vmm_pid" 2> /dev/null
  [ -z "$fsd_pid" ] || kill -9 "$fsd_pid" 2> /dev/null
  [ -z "$fsd2_pid" ] || kill -9 "$fsd2_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT



mkdir -p "$work/disk/hostdir"
echo on-disk > "$work/disk/hostdir/disk-hello"
truncate -s 16M "$work/rw.img"
mkfs.ext4 -q -F -d "$work/disk" "$work/rw.img"
cp "$work/rw.img" "$work/ro.img"
sum_ro=$(md5sum < "$work/ro.img")

mkdir -p "$work/share/fromhost"
echo from-host > "$work/share/fromhost/hello"
/usr/lib/qemu/virtiofsd --socket-path="$work/virtiofsd.sock" -o source="$work/share" -o cache=none \
  > "$work/virtiofsd.log" 2>&1 &
fsd_pid=$!
mkdir -p "$work/share2"
/usr/lib/qemu/virtiofsd --socket-path="$work/virtiofsd2.sock" -o source="$work/share2" \
  -o cache=none > "$work/virtiofsd2.log" 2>&1 &
fsd2_pid=$!
for _ in $(seq 1 100); do
  [ -S "$work/virtiofsd.sock" ] && [ -S "$work/virtiofsd2.sock" ] && break
  sleep 0.05
done
blank=()
for i in 1 2 3 4 5 6; do
  truncate -s 1M "$work/blank$i.img"
  blank+=(--disk "$work/blank$i.img,ro")
done

# Devices in order rng, disks, shares, vsock: GSI 5, 6-13, 14-15, 16.
sock=$work/vsock.sock
"$vmm" --kernel "$assets/vmlinux" --initrd "$assets/kata-agent-initrd.img" \
  --cmdline "console=ttyS0 reboot=k panic=-1 loglevel=6 rdinit=/init" --memory 512 --vcpus 2 \
  --mmio-cmdline --rng --disk "$work/rw.img,id=vmm-rw" --disk "$work/ro.img,ro,id=vmm-ro" \
  "${blank[@]}" --fs "$work/virtiofsd.sock,tag=kataShared" \
  --fs "$work/virtiofsd2.sock,tag=second" --vsock "$sock" \
  --timeout 240 > "$work/console.log" 2> "$work/vmm.err" &
vmm_pid=$!

# agent_ready SOCKET: ready=0 once the agent behind kata-vmm's hybrid vsock
# SOCKET answers Check (a guest not listening yet refuses the connection:
# retry while kata-vmm runs), out its answer.
agent_ready() {
  ready=1
  for _ in $(seq 1 120); do
    if out=$(timeout 20 "$ctl" --addr "hvsock:$1" --timeout 10 call Check '{}' 2>&1); then
      ready=0
      return
    fi
    kill -0 "$vmm_pid" 2> /dev/null || return
    sleep 1
  done
}

# 1. The agent answers through hybrid vsock.
agent_ready "$sock"
[ $ready -eq 0 ] && [[ $out == *SERVING* ]]
result $? "the agent answers grpc.Health/Check over hybrid vsock" "$out
$(cat "$work/vmm.err" "$work/console.log")"

# Seccomp: every thread of kata-vmm (vCPU, device) runs filtered (mode 2).
modes=$(grep -h '^Seccomp:' /proc/"$vmm_pid"/task/*/status 2> /dev/null | awk '{print $2}' | sort | uniq -c)
threads=$(ls /proc/"$vmm_pid"/task 2> /dev/null | wc -l)
[ "$threads" -ge 2 ] && [ "$(echo "$modes" | awk '{print $2}')" = 2 ]
result $? "every kata-vmm thread ($threads) runs under a seccomp filter" "$modes"

# 2. Block devices through the agent's storages.
cat > "$work/calls" << CALLS
CreateSandbox {"sandbox_id":"vmm","storages":[{"driver":"mmioblk","source":"/dev/vda","fstype":"ext4","mount_point":"$R/rw"},{"driver":"bind","source":"$R/rw/hostdir","mount_point":"$R/check-disk"},{"driver":"mmioblk","source":"/dev/vdb","fstype":"ext4","options":["ro"],"mount_point":"$R/ro"},{"driver":"virtio-fs","source":"kataShared","fstype":"virtiofs","mount_point":"$R/shared"},{"driver":"bind","source":"$R/shared/fromhost","mount_point":"$R/check-share"}]}
CopyFile {"path":"$R/rw/fromguest.txt","file_size":11,"file_mode":33188,"data":{"@text":"from-guest\n"}}
CopyFile {"path":"$R/check-share/viashare.txt","file_size":10,"file_mode":33188,"data":{"@text":"via-share\n"}}
!INTERNAL CopyFile {"path":"$R/ro/new.txt","file_size":1,"data":{"@text":"x"}}
GetGuestDetails {"mem_block_size":false}
CALLS
out=$(timeout 120 "$ctl" --addr "hvsock:$sock" --timeout 60 calls "$work/calls" 2>&1)
[ $? -eq 0 ] && [ "$(cat "$work/share/fromhost/viashare.txt" 2> /dev/null)" = via-share ]
result $? "the agent mounts /dev/vda (rw), /dev/vdb (ro) and the virtio-fs share, binds directories of the disk and the share, writes into vda and the share only" "$out
$(cat "$work/virtiofsd.log")"
printf '%s' "$out" | grep -Eq '"online_cpus": ?2[^0-9]'
result $? "devices on the kernel command line: both vCPUs online (GetGuestDetails)" "$out"

# 3. DestroySandbox unmounts and powers off: kata-vmm ends with status 0.
timeout 60 "$ctl" --addr "hvsock:$sock" --timeout 30 call DestroySandbox '{}' > /dev/null 2>&1
wait_child "$vmm_pid" 120
status=$wait_status
[ $status -eq 0 ] && grep -q "reboot: Power down" "$work/console.log"
result $? "the guest powers off and kata-vmm exits 0 (status $status)" "$(cat "$work/vmm.err"; tail -n 20 "$work/console.log")"
[ $status -eq 124 ] || vmm_pid=
kill "$fsd_pid" "$fsd2_pid" 2> /dev/null
wait "$fsd_pid" "$fsd2_pid" 2> /dev/null
fsd_pid= fsd2_pid=

# 4. What the guest wrote is in the image; the read-only image is unchanged.
got=$(debugfs -R "cat /fromguest.txt" "$work/rw.img" 2> /dev/null)
[ "$got" = from-guest ] && [ "$(md5sum < "$work/ro.img")" = "$sum_ro" ]
result $? "the file written in the guest is in the image, the read-only image is unchanged" "got '$got'"

# 5. The guest saw every disk, and no device failed (a device whose IRQ
# cannot be requested logs "probe of virtioN failed with error -22").
grep -q "\[vda\]" "$work/console.log" && grep -q "\[vdh\]" "$work/console.log" &&
  ! grep -q "probe of virtio.* failed" "$work/console.log" && ! grep -q . "$work/vmm.err"
result $? "the guest probed every virtio device (8 disks, IRQs 5-16); kata-vmm logged no device error" \
  "$(grep -i virtio "$work/console.log"; cat "$work/vmm.err")"

# 6. Nothing left: the socket is removed with the VMM.
[ ! -e "$sock" ] && [ -z "$vmm_pid" ]
result $? "kata-vmm gone, its vsock socket removed" "$(ls -l "$work")"

# 7. The hypervisor driver: vm-probe through dragonball_ops.
probe=$build/tests/tools/vm-probe
mkdir -p "$work/share8"
cat > "$work/calls8" << CALLS
CreateSandbox {"sandbox_id":"drv","storages":[{"driver":"virtio-fs","source":"kataShared","fstype":"virtiofs","mount_point":"$R/shared"}]}
CopyFile {"path":"$R/shared/fromdriver.txt","file_size":4,"file_mode":33188,"data":{"@text":"drv\n"}}
CALLS
out=$(timeout 300 "$probe" --hypervisor dragonball --qemu "$vmm" --kernel "$assets/vmlinux" \
  --initrd "$assets/kata-agent-initrd.img" --vcpus 2 --mmio-cmdline --qmp-check --virtiofs "$work/share8" \
  --calls "$work/calls8" --json --timeout 240 2>&1)
st=$?
echo "# dragonball: $(printf '%s' "$out" | tail -n 1)"
[ $st -eq 0 ] && [[ $out == *'"health": "SERVING"'* ]] && [[ $out == *'"online_cpus": 2'* ]] &&
  [[ $out == *'"qmp_paused": "paused", "qmp_resumed": "running"'* ]] &&
  [[ $out == *'"vm_processes": 2'* ]] && [ "$(cat "$work/share8/fromdriver.txt" 2> /dev/null)" = drv ] &&
  [[ $out == *'"vmm_threads": 4, "vmm_filtered_threads": 4, "vmm_exit": 0'* ]] &&
  ! pgrep -x kata-vmm > /dev/null && ! pgrep -f "$work/share8" > /dev/null
result $? "vm-probe --hypervisor dragonball --vcpus 2 --mmio-cmdline: the agent answers through the driver (control socket), 2 CPUs online, pause/status/resume, all 4 kata-vmm threads (API, device, 2 vCPUs) under seccomp after them, a virtio-fs share, kata-vmm exits 0 at power-off, nothing left" "$out"

out=$(timeout 60 "$probe" --hypervisor dragonball --qemu "$vmm" --kernel "$assets/vmlinux" \
  --initrd "$assets/kata-agent-initrd.img" --share9p "$work/share" 2>&1)
st=$?
[ $st -ne 0 ] && [[ $out == *"shared_fs \`virtio-9p\`"* ]] && ! pgrep -x kata-vmm > /dev/null
result $? "dragonball refuses a 9p share, naming shared_fs" "$out"

# 9. The control socket itself (curl): after vm.boot every thread, the API
# thread included, runs under its filter; pause, info, resume and
# vm.shutdown work under it and kata-vmm exits 0.
api_sock=$work/api.sock
api_vsock=$work/api-vsock.sock
api() { # METHOD ENDPOINT [JSON]: prints "CODE BODY"
  local body
  body=$(curl -s -m 30 -w ' %{http_code}' --unix-socket "$api_sock" -X "$1" \
    "http://localhost/api/v1/$2" ${3:+-H 'Content-Type: application/json' -d "$3"})
  echo "${body##* } ${body% *}"
}
api_config="{\"payload\": {\"kernel\": \"$assets/vmlinux\", \"initramfs\": \"$assets/kata-agent-initrd.img\",
  \"cmdline\": \"console=ttyS0 reboot=k panic=-1 rdinit=/init\"}, \"cpus\": {\"boot_vcpus\": 2, \"max_vcpus\": 2},
  \"vsock\": {\"cid\": 3, \"socket\": \"$api_vsock\"}}"
api_start() { # kata-vmm --api-socket, vm.create, vm.boot
  [ -z "$vmm_pid" ] || kill -9 "$vmm_pid" 2> /dev/null # one the last check left running
  rm -f "$api_sock"
  "$vmm" --api-socket "$api_sock" > "$work/api-console.log" 2> "$work/api-vmm.err" &
  vmm_pid=$!
  for _ in $(seq 1 200); do [ -S "$api_sock" ] && break; sleep 0.05; done
  log="$log
create: $(api PUT vm.create "$api_config")
boot: $(api PUT vm.boot)"
}
# Prints "THREADS FILTERED" (filtered: Seccomp mode 2) once all 4 threads
# are there and filtered, or after 60 s.
api_threads() {
  local t f
  for _ in $(seq 1 120); do
    t=$(ls /proc/"$vmm_pid"/task 2> /dev/null | wc -l)
    f=$(grep -h '^Seccomp:' /proc/"$vmm_pid"/task/*/status 2> /dev/null | awk '$2 == 2' | wc -l)
    [ "$t" -eq 4 ] && [ "$f" -eq 4 ] && break
    sleep 0.5
  done
  echo "$t $f"
}
api_wait() { # st: the exit status of kata-vmm, 124 if it does not exit in 60 s
  wait_child "$vmm_pid" 60
  st=$wait_status
  [ $st -eq 124 ] || vmm_pid=
}
log=
api_start
agent_ready "$api_vsock"
threads=$(api_threads)
log="$log
agent: $ready $out
threads, filtered: $threads
pause: $(api PUT vm.pause)
info: $(api GET vm.info | cut -c1-40)
resume: $(api PUT vm.resume)
info: $(api GET vm.info | cut -c1-40)"
again=$(timeout 60 "$ctl" --addr "hvsock:$api_vsock" --timeout 30 call Check '{}' 2>&1)
log="$log
agent again: $again
shutdown: $(api PUT vm.shutdown)"
api_wait
[ $ready -eq 0 ] && [ "$threads" = "4 4" ] && [[ $again == *SERVING* ]] &&
  [[ $log == *"pause: 204"* ]] && [[ $log == *'info: 200 {"state":"Paused"'* ]] &&
  [[ $log == *"resume: 204"* ]] && [[ $log == *'info: 200 {"state":"Running"'* ]] &&
  [[ $log == *"shutdown: 204"* ]] && [ "$st" = 0 ] && [ ! -e "$api_sock" ] && [ ! -e "$api_vsock" ]
result $? "kata-vmm --api-socket: after vm.boot all 4 threads (API, device, 2 vCPUs) run under seccomp; pause, info, resume and vm.shutdown work under the filters; exit 0, sockets removed" \
  "$log
exit status $st
$(cat "$work/api-vmm.err")"

# 10. SIGTERM reaches the filtered API thread's signalfd: a clean stop.
log=
api_start
threads=$(api_threads)
kill -TERM "$vmm_pid" 2> /dev/null
api_wait
[ "$threads" = "4 4" ] && [ "$st" = 0 ] && [ ! -e "$api_sock" ]
result $? "kata-vmm --api-socket under seccomp stops on SIGTERM with status 0, socket removed" \
  "$log
threads, filtered: $threads; exit status $st
$(cat "$work/api-vmm.err")"

finish
