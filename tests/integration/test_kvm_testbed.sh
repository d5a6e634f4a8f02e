#!/usr/bin/env bash
# The KVM test bed (tests/kvm-testbed/run): an L1 VM under TCG with emulated
# AMD SVM. One L1 boot runs tests/kvm-testbed/selftest.sh (nested KVM, kata-runtime
# check/env, vm-probe with -accel kvm on vhost-vsock and virtio-serial, the
# built-in VMM booting to a marker); a second
# shows how a command's stdout, stderr, exit status, working directory and a
# writable share come back; a third that --timeout stops the VM; a fourth
# that --attempts boots again after an L1 kernel panic; a fifth and sixth
# that run-steps runs a failed step again on a fresh L1. Nothing may be
# left running or on disk. No timing is asserted.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
run=$top/tests/kvm-testbed/run
step=0
ok() { step=$((step + 1)); echo "ok $step - $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d /tmp/test-kvm-testbed.XXXXXX)
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work

for f in "$top/build/tests/tools/vm-probe" "$top/build/src/vmm/kata-vmm" "$top/build/guest/vmlinux" \
  "$top/build/guest/kata-agent-initrd.img" "$top/build/guest/marker-initrd.img"; do
  [ -e "$f" ] || fail "$f missing: run make and guest/build-assets.sh first"
done
ls -d "$work"/kvm-testbed.* 2> /dev/null | sort > "$work/before" || true

# 1. Everything that needs KVM, from one L1 boot.
status=0
(cd "$top" && "$run" --attempts 2 --timing --timeout 480 -- tests/kvm-testbed/selftest.sh) \
  > "$work/selftest.out" 2> "$work/selftest.err" || status=$?
cat "$work/selftest.out"
grep '^kvm-testbed:' "$work/selftest.err" || true
if [ $status -ne 0 ]; then
  tail -n 30 "$work/selftest.err" >&2
  fail "selftest in the test bed exited $status"
fi
grep -q '^ok 11 - no QEMU or kata-vmm left running' "$work/selftest.out" || fail "selftest did not run every check"
! grep -q '^not ok' "$work/selftest.out" || fail "selftest reported failures"
ok "selftest in the test bed: nested KVM, kata-runtime check/env, vm-probe on vsock and serial, kata-vmm"

# 2. What a command gets and gives back.
mkdir "$work/rw"
status=0
(cd "$top/tests" && "$run" --timeout 300 --share-rw "$work/rw" -- \
  sh -c 'echo "out $KVM_TESTBED $(pwd)"; echo "err $(uname -r)" >&2; touch /etc/kvm-testbed-probe;
         [ ! -w /usr ] || echo "usr writable"; echo written > "$1/file"; exit 7' sh "$work/rw") \
  > "$work/cmd.out" 2> "$work/cmd.err" || status=$?
[ $status -eq 7 ] || { cat "$work/cmd.out" "$work/cmd.err" >&2; fail "exit status $status, wanted 7"; }
[ "$(cat "$work/cmd.out")" = "out 1 $top/tests" ] || fail "stdout: $(cat "$work/cmd.out")"
release=$(cat "$(bash "$top/tests/kvm-testbed/build.sh")/release")
[ "$(cat "$work/cmd.err")" = "err $release" ] || fail "stderr: $(cat "$work/cmd.err")"
[ "$(cat "$work/rw/file")" = written ] || fail "the writable share did not come back"
[ ! -e /etc/kvm-testbed-probe ] || { rm -f /etc/kvm-testbed-probe; fail "the guest wrote the host's /etc"; }
ok "stdout, stderr and exit status come back; cwd kept; /etc writable in the VM only; --share-rw"

# 3. --timeout stops the VM with status 124.
status=0
"$run" --timeout 3 -- sleep 600 > /dev/null 2> "$work/timeout.err" || status=$?
[ $status -eq 124 ] || { cat "$work/timeout.err" >&2; fail "timeout status $status, wanted 124"; }
ok "--timeout stops the VM and exits 124"

# 4. --attempts: an L1 kernel that panics boots again (here the first boot
# crashes itself through sysrq; the second finds its mark and succeeds).
mkdir "$work/panic"
status=0
"$run" --attempts 2 --timeout 300 --share-rw "$work/panic" -- sh -c \
  'if [ -e "$1/once" ]; then echo second boot; exit 0; fi
   echo first boot; touch "$1/once"; sync; echo c > /proc/sysrq-trigger; sleep 30' sh "$work/panic" \
  > "$work/panic.out" 2> "$work/panic.err" || status=$?
[ $status -eq 0 ] && [ "$(cat "$work/panic.out")" = "second boot" ] &&
  grep -q 'attempt 1: the L1 kernel panicked' "$work/panic.err" ||
  { cat "$work/panic.out" "$work/panic.err" >&2; fail "--attempts 2 after a panic: status $status"; }
ok "--attempts 2: a panicked L1 boots again; only the last attempt's output comes back"

# 5. run-steps: a step that fails runs again on a fresh L1 and counts as failed
# only if it fails there too; a step that passed runs once; the first L1's
# output of the failed steps and both L1 consoles stay on stderr (the logs).
s=$work/steps
mkdir "$s"
cat > "$s/good.sh" << EOF
#!/bin/sh
echo ran >> "$s/good.count"; echo "ok 1 - good"; echo 1..1
EOF
cat > "$s/flaky.sh" << EOF
#!/bin/sh
if [ -e "$s/once" ]; then echo "ok 1 - flaky, on a fresh L1"; echo 1..1; exit 0; fi
touch "$s/once"; echo "not ok 1 - flaky, on the first L1"; echo 1..1; exit 1
EOF
printf '#!/bin/sh\necho "not ok 1 - bad"; echo 1..1; exit 3\n' > "$s/bad.sh"
chmod +x "$s/good.sh" "$s/flaky.sh" "$s/bad.sh"
status=0
"$top/tests/kvm-testbed/run-steps" --timeout 300 --share-rw "$s" -- "$s/good.sh" "$s/flaky.sh" \
  "$s/bad.sh" > "$work/steps.out" 2> "$work/steps.err" || status=$?
want="ok 1 - good
1..1
ok 1 - flaky, on a fresh L1
1..1
not ok 1 - bad
1..1
# kvm-testbed: step $s/flaky.sh failed on the first L1 (status 1), passed on a fresh one
# kvm-testbed: step $s/bad.sh failed on the first L1 (status 3) and failed again on a fresh one (status 3)"
[ $status -eq 1 ] && [ "$(cat "$work/steps.out")" = "$want" ] && [ "$(wc -l < "$s/good.count")" -eq 1 ] &&
  grep -qx 'not ok 1 - flaky, on the first L1' "$work/steps.err" &&
  grep -qx 'kvm-testbed: --- the first L1 (run status 0): console ---' "$work/steps.err" &&
  grep -qx 'kvm-testbed: --- the fresh L1 (run status 0): console ---' "$work/steps.err" ||
  { cat "$work/steps.out" "$work/steps.err" >&2; fail "run-steps: status $status"; }
ok "run-steps: a failed step runs again on a fresh L1 (passes there: passed; fails again: failed), both consoles kept"

# Nothing left behind.
# Only this test's L1 VMs count (their run dirs are under $work): other
# tests or users may run test beds of their own on the same machine.
! pgrep -f "qemu-system-x86_64 -name kvm-testbed .*$work/" > /dev/null || fail "an L1 QEMU was left running"
ls -d "$work"/kvm-testbed.* "$work"/kvm-testbed-steps.* 2> /dev/null | sort > "$work/after" || true
[ -z "$(comm -13 "$work/before" "$work/after")" ] || fail "run dirs left: $(comm -13 "$work/before" "$work/after")"
ok "no QEMU and no run directory left"
echo "all $step steps passed"
