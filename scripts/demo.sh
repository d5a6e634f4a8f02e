#!/usr/bin/env bash
# The main job: install what is missing, build the binaries and guest assets
# (the kernel is cached), boot a VM with our agent as PID 1 and print what the
# agent reports about the guest.  MACHINE=q35 for the q35 machine type.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
make -s all
assets=$(bash guest/build-assets.sh)
exec build/tests/tools/vm-probe --machine "${MACHINE:-microvm}" \
  --kernel "$assets/vmlinux" --initrd "$assets/kata-agent-initrd.img" "$@"
