# Sourced by the test bed's check scripts (vmm-devices.sh, vmm-net.sh,
# vmm-runtime.sh): TAP-style results and the guard that they run inside the
# test bed.  `result STATUS DESCRIPTION [DETAIL]` prints "ok N - ..." or
# "not ok N - ..." with the detail's tail as comments; `wait_child` waits a
# bounded time for a child's exit; `finish` prints the plan and exits 1 if
# any check failed.
n=0 failed=0

result() {
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $n - $2"
  else
    echo "not ok $n - $2"
    [ -z "${3:-}" ] || printf '%s\n' "$3" | tail -n 40 | sed 's/^/# /'
    failed=$((failed + 1))
  fi
}

# wait_child PID SECONDS: wait_status is the child's exit status, or 124 if
# it still runs after SECONDS.
wait_child() {
  wait_status=124
  for _ in $(seq 1 "$2"); do
    if ! kill -0 "$1" 2> /dev/null; then
      wait "$1"
      wait_status=$?
      return
    fi
    sleep 1
  done
}

finish() {
  echo "1..$n"
  exit $((failed > 0))
}

# `bundle_command CONFIG_JSON SCRIPT [writable]`: the bundle's process becomes
# `sh -c SCRIPT` without a terminal or ambient capabilities; with `writable`,
# its root is not read-only.
bundle_command() {
  python3 - "$@" << 'PY'
import json, sys
path, script = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c", script]
spec["process"]["capabilities"].pop("ambient", None)
if sys.argv[3:] == ["writable"]:
    spec["root"]["readonly"] = False
json.dump(spec, open(path, "w"), indent=2)
PY
}

if [ "${KVM_TESTBED:-}" != 1 ]; then
  echo "$(basename "$0") runs inside tests/kvm-testbed/run" >&2
  exit 2
fi
