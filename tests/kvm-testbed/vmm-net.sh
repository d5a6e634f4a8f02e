#!/usr/bin/env bash
# The built-in VMM's virtio-net, checked from inside the KVM test bed (run by
# tests/integration/test_vmm_devices.sh): net-probe attaches a tap to a netns
# with a veth (Kata's tcfilter model), boots our guest through the
# `dragonball` driver with that tap as virtio-net (kata-vmm inherits the fd),
# configures the guest's interface through the agent, and the guest answers
# ping through the tap.  Then net-probe powers off, detaches, and nothing is
# left: no kata-vmm, no netns, no veth.
# Prints "ok N - ..." / "not ok N - ..." lines and exits 1 if any failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/kvm-testbed/checks.sh"
build=${1:-$top/build}
assets=$top/build/guest
ns=vmmnet$$
host_end=kv$$
net=10.$((200 + RANDOM % 50)).$((1 + RANDOM % 250))
work=$(mktemp -d /tmp/vmm-net.XXXXXX)
probe_pid=
cleanup() {
  [ -z "$probe_pid" ] || kill -9 "$probe_pid" 2> /dev/null
  ip link del "$host_end" 2> /dev/null
  ip netns del "$ns" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT



ip netns add "$ns"
ip link add "$host_end" type veth peer name eth0 netns "$ns"
ip addr add "$net.1/24" dev "$host_end"
ip link set "$host_end" up
ip -n "$ns" link set eth0 mtu 1400 up
ip -n "$ns" addr add "$net.2/24" dev eth0
mac=$(ip netns exec "$ns" cat /sys/class/net/eth0/address)

mkfifo "$work/stdin"
"$build/tests/tools/net-probe" vm "/run/netns/$ns" --hypervisor dragonball \
  --qemu "$build/src/vmm/kata-vmm" --kernel "$assets/vmlinux" \
  --initrd "$assets/kata-agent-initrd.img" --timeout 240 < "$work/stdin" > "$work/out" \
  2> "$work/err" &
probe_pid=$!
exec 9> "$work/stdin" # net-probe holds the VM until this closes
ready=
for _ in $(seq 1 240); do
  ready=$(head -n 1 "$work/out" 2> /dev/null)
  [ -n "$ready" ] && break
  kill -0 "$probe_pid" 2> /dev/null || break
  sleep 1
done
[[ $ready == *'"hwAddr": "'$mac'"'* || $ready == *"\"hwAddr\":\"$mac\""* ]] &&
  [[ $ready == *1400* ]] && [[ $ready == *"$net.2"* ]]
result $? "the agent configured the guest's virtio-net with the veth's MAC, MTU 1400 and $net.2" \
  "$ready
$(cat "$work/err")"

# ICMP echo from the host end (no ping binary here): a raw socket in python3.
out=$(python3 - "$net.2" << 'PY' 2>&1
import socket, struct, sys, time
def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(5)
received = 0
for seq in range(1, 6):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x4b56, seq) + b"kata-vmm"
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    sock.sendto(body, (sys.argv[1], 0))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            data, peer = sock.recvfrom(2048)
        except socket.timeout:
            break
        ihl = (data[0] & 0x0f) * 4
        kind, _, _, ident, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if peer[0] == sys.argv[1] and kind == 0 and ident == 0x4b56 and rseq == seq:
            received += 1
            break
    time.sleep(0.2)
print("%d received" % received)
PY
)
received=$(printf '%s' "$out" | sed -n 's/^\([0-9]*\) received.*/\1/p')
tx=$(ip netns exec "$ns" cat /sys/class/net/tap0_kata/statistics/tx_packets 2> /dev/null)
[ "${received:-0}" -ge 3 ] && [ "${tx:-0}" -ge 3 ]
result $? "the guest answers ping through the tap ($received of 5, tap tx $tx)" "$out
$(cat "$work/err")"

exec 9>&- # net-probe powers the guest off and detaches
wait_child "$probe_pid" 60
status=$wait_status
[ $status -eq 124 ] || probe_pid=
[ $status -eq 0 ] && ! pgrep -x kata-vmm > /dev/null &&
  [ -z "$(ip netns exec "$ns" ip -o link show type tun 2> /dev/null)" ]
result $? "net-probe stops the VM and detaches (status $status), no kata-vmm or tap left" \
  "$(cat "$work/err")"

finish
