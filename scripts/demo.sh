#!/usr/bin/env bash
# The main job: install what is missing, build the binaries and guest assets
# (the kernel is cached), then run a container in a VM with kata-runtime, as
# runc's users do: an OCI bundle with a busybox rootfs whose process prints
# what it sees (the guest's kernel, CPUs, memory, hostname) and exits with its
# status.  MACHINE=q35 for the q35 machine type.  --probe instead boots a VM
# and prints only what the agent reports (no container).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
make -s all
assets=$(bash guest/build-assets.sh)
if [ "${1:-}" = "--probe" ]; then
  shift
  exec build/tests/tools/vm-probe --machine "${MACHINE:-microvm}" \
    --kernel "$assets/vmlinux" --initrd "$assets/kata-agent-initrd.img" "$@"
fi

work=$(mktemp -d /tmp/kata-demo.XXXXXX)
runtime=$top/build/src/runtime/kata-runtime
cleanup() {
  "$runtime" --root "$work/root" delete --force demo > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The build's configuration, pointed at the build's guest assets.
sed -e "s|^kernel = .*|kernel = \"$assets/vmlinux\"|" \
  -e "s|^initrd = .*|initrd = \"$assets/kata-agent-initrd.img\"|" \
  -e "s|^machine_type = .*|machine_type = \"${MACHINE:-microvm}\"|" \
  build/config/configuration-qemu.toml > "$work/configuration.toml"
export KATA_CONF_FILE=$work/configuration.toml
export KATA_SHIM_PATH=$top/build/src/shim/containerd-shim-kata-v2

# A bundle: busybox-static as the rootfs, `kata-runtime spec` for config.json.
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh echo uname nproc free hostname cat head; do
  ln -s busybox "$bundle/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$bundle/rootfs/etc/passwd"
"$runtime" spec --bundle "$bundle"
python3 - "$bundle/config.json" << 'EOF'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sh", "-c",
    "echo \"container in a VM: kernel $(uname -r), $(nproc) CPU(s), "
    "$(free -m | head -2 | tail -1 | tr -s ' ' | cut -d' ' -f2) MiB, hostname $(hostname)\""]
spec["process"]["capabilities"].pop("ambient", None)
spec["hostname"] = "kata-demo"
json.dump(spec, open(path, "w"), indent=2)
EOF

echo "kata-runtime run (QEMU ${MACHINE:-microvm}, accelerator: $("$runtime" env --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Host"]["Accelerator"])' 2> /dev/null || echo '?'))"
start=$(date +%s%N)
status=0
"$runtime" --root "$work/root" run --bundle "$bundle" demo < /dev/null || status=$?
echo "exit status $status after $((($(date +%s%N) - start) / 1000000)) ms"
exit $status
