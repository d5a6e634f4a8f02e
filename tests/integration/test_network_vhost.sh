#!/usr/bin/env bash
# The QEMU driver's vhost-net path: the VM network test of
# test_network_tcfilter.py run inside the KVM test bed (tests/kvm-testbed/run),
# whose L1 has /dev/kvm and /dev/vhost-net: the guest behind the tap, with
# -netdev tap,...,vhost=on, configured through the agent, answers ICMP echo.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
for f in "$top/build/tests/tools/net-probe" "$top/build/guest/vmlinux" \
  "$top/build/guest/kata-agent-initrd.img"; do
  [ -e "$f" ] || { echo "FAIL: $f missing: run make and guest/build-assets.sh first" >&2; exit 1; }
done
out=$(mktemp /tmp/test-network-vhost.XXXXXX)
trap 'rm -f "$out"' EXIT
status=0
(cd "$top" && tests/kvm-testbed/run --attempts 2 --timeout 400 -- sh -c \
  'modprobe vhost_net && KATA_NET_EXPECT_VHOST=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider \
     -k "guest_behind_the_tap and microvm" tests/integration/test_network_tcfilter.py') \
  > "$out" 2>&1 || status=$?
tail -n 5 "$out"
[ $status -eq 0 ] || { tail -n 40 "$out" >&2; echo "FAIL: exit status $status" >&2; exit 1; }
grep -q "1 passed" "$out" || { echo "FAIL: the VM test did not run" >&2; exit 1; }
echo "ok - guest behind a tap with vhost-net answers ping (KVM test bed)"
