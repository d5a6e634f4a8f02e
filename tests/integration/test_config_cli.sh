#!/usr/bin/env bash
# kata-runtime env/check/--show-default-config-paths and kata-manager on a
# temporary root: the build is installed with DESTDIR into a temp dir, and
# every path the binaries touch is under it (never the real /etc or /opt).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${KATA_BUILD:-$top/build}
root=$(mktemp -d /tmp/kata-config-cli.XXXXXX)
real_etc_before=$(ls -la /etc/kata-containers 2>&1 || true)
trap 'rm -rf "$root"' EXIT
ok() { step=$((step + 1)); echo "ok $step - $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! meson install -C "$build" --no-rebuild --destdir "$root" >"$root/install.log" 2>&1; then
  tail -5 "$root/install.log"
  fail "meson install of $build (build it first: ninja -C $build)"
fi
prefix=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
export KATA_ETC_DIR=$root/etc/kata-containers
export KATA_DEFAULTS_DIR=$root$prefix/share/defaults/kata-containers
unset KATA_CONF_FILE
runtime=$root$prefix/bin/kata-runtime
manager=$root$prefix/bin/kata-manager
etc=$KATA_ETC_DIR
defaults=$KATA_DEFAULTS_DIR
step=0
# KVM is usable where /dev/kvm opens and the CPU has vmx/svm (a PVM nested
# host has a /dev/kvm for PVM guests only, on a CPU with neither).
kvm_usable=0
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qw -E 'vmx|svm' /proc/cpuinfo; then kvm_usable=1; fi
export kvm_usable
expect_contains() { # TEXT NEEDLE
  [[ "$1" == *"$2"* ]] || fail "expected to find '$2' in: $1"
}
# toml_get FIELD-PATH: read kata-runtime env (TOML) and print one field.
env_field() {
  "$runtime" "${@:2}" env | python3 -c '
import sys, tomllib
d = tomllib.loads(sys.stdin.read())
for k in sys.argv[1].split("."):
    d = d[k]
print(d)' "$1"
}
manager() { "$manager" --root "$root" "$@"; }

# --- lookup and show-default-config-paths -----------------------------------
out=$("$runtime" --show-default-config-paths)
[ "$out" = "$etc/configuration.toml
$defaults/configuration.toml" ] || fail "default paths: $out"
ok "--show-default-config-paths lists etc then the packaged defaults"

[ "$(readlink "$defaults/configuration.toml")" = configuration-qemu.toml ] ||
  fail "packaged configuration.toml is not a link to configuration-qemu.toml"
[ "$(env_field Runtime.Config.Path)" = "$defaults/configuration-qemu.toml" ] ||
  fail "without /etc the packaged qemu file should be used"
ok "packaged configuration.toml -> configuration-qemu.toml is used when /etc has none"

# --- env output parses back as TOML and as JSON --------------------------------
"$runtime" env | python3 -c '
import sys, tomllib
d = tomllib.loads(sys.stdin.read())
for s in ("Meta", "Runtime", "Hypervisor", "Kernel", "Initrd", "Image", "Agent", "Host"):
    assert s in d, s
assert d["Hypervisor"]["Type"] == "qemu"
assert d["Hypervisor"]["MachineType"] == "microvm"
assert d["Hypervisor"]["SharedFS"] == "virtio-fs"
assert d["Host"]["Accelerator"] in ("KVM", "TCG")
assert isinstance(d["Host"]["SupportVSocks"], bool)
assert d["Host"]["CPU"]["CPUs"] >= 1
assert d["Runtime"]["Version"]["Semver"]
caps = d["Hypervisor"]["Capabilities"]
assert caps["SharedFS"] == ["none", "virtio-fs", "virtio-9p"], caps
assert caps["BlockHotplug"] is False and caps["SCSIHotplug"] is True, caps  # microvm
assert caps["Pause"] is True and caps["NeedsBinary"] is True, caps
' || fail "env TOML"
ok "env prints TOML with Kata's sections and the driver's capabilities"
"$runtime" kata-env --json | python3 -c '
import sys, json
d = json.load(sys.stdin)
assert d["Hypervisor"]["Path"] == "/usr/bin/qemu-system-x86_64"
assert d["Kernel"]["Path"].endswith("/share/kata-containers/vmlinux.container")
expect = "KVM" if __import__("os").environ["kvm_usable"] == "1" else "TCG"
assert d["Host"]["Accelerator"] == expect, d["Host"]["Accelerator"]
' || fail "env JSON"
ok "kata-env --json prints JSON with the accelerator in use"

# --- kata-manager: listing ------------------------------------------------------
out=$(manager -L)
expect_contains "$out" "* qemu        configuration-qemu.toml (default)"
for hv in clh fc dragonball stratovirt; do expect_contains "$out" "  $hv"; done
out=$(manager -e)
expect_contains "$out" "No local configurations"
ok "kata-manager -L marks qemu active and default, -e shows no local files"

# --- kata-manager: switching among all five and back ---------------------------
declare -A section=([qemu]=qemu [clh]=clh [fc]=firecracker [dragonball]=dragonball [stratovirt]=stratovirt)
for hv in qemu clh fc dragonball stratovirt; do
  manager -S "$hv" >/dev/null
  [ "$(readlink "$etc/configuration.toml")" = "configuration-$hv.toml" ] || fail "-S $hv link"
  cmp -s "$etc/configuration-$hv.toml" "$defaults/configuration-$hv.toml" || fail "-S $hv copy"
  [ "$(env_field Hypervisor.Type)" = "${section[$hv]}" ] || fail "-S $hv: env shows another hypervisor"
  [ "$(env_field Runtime.Config.Path)" = "$etc/configuration-$hv.toml" ] || fail "-S $hv: path"
  case $hv in # a driver's capabilities, none without a driver
  qemu) [ "$(env_field Hypervisor.Capabilities.Pause)" = True ] || fail "-S qemu: capabilities" ;;
  dragonball) [ "$(env_field Hypervisor.Capabilities.NeedsBinary)" = False ] ||
    fail "-S dragonball: capabilities" ;;
  clh) [ "$(env_field Hypervisor.Capabilities.NeedsBinary)/$(env_field Hypervisor.Capabilities.BlockHotplug)/$(env_field Hypervisor.Capabilities.Pause)/$(env_field Hypervisor.Capabilities.RunsWithoutKVM)" = True/True/True/False ] ||
    fail "-S clh: capabilities" ;;
  fc) [ "$(env_field Hypervisor.Capabilities.NeedsBinary)/$(env_field Hypervisor.Capabilities.BlockHotplug)/$(env_field Hypervisor.Capabilities.Pause)/$(env_field Hypervisor.Capabilities.RunsWithoutKVM)" = True/True/True/False ] ||
    fail "-S fc: capabilities"
    [ "$(env_field Hypervisor.Capabilities.SharedFS)" = "['none']" ] ||
      fail "-S fc: shared_fs $(env_field Hypervisor.Capabilities.SharedFS)" ;;
  stratovirt) [ "$(env_field Hypervisor.Capabilities.RunsWithoutKVM)" = False ] &&
    [ "$(env_field Hypervisor.Capabilities.NeedsVhostVsock)" = True ] ||
    fail "-S stratovirt: capabilities" ;;
  *) ! env_field Hypervisor.Capabilities >/dev/null 2>&1 || fail "-S $hv: capabilities without a driver" ;;
  esac
  out=$(manager -L)
  expect_contains "$out" "* $hv "
  out=$(manager -e)
  expect_contains "$out" "* $hv "
  expect_contains "$out" "configuration.toml -> configuration-$hv.toml"
done
ok "kata-manager -S switches among qemu, clh, fc, dragonball and stratovirt"

manager -S default >/dev/null
[ ! -e "$etc/configuration.toml" ] || fail "-S default left configuration.toml"
[ "$(env_field Runtime.Config.Path)" = "$defaults/configuration-qemu.toml" ] || fail "-S default"
ok "kata-manager -S default goes back to the packaged default"

# --- refusing to overwrite local changes ---------------------------------------
manager -S clh >/dev/null
echo "# my change" >>"$etc/configuration-clh.toml"
manager -S qemu >/dev/null
if out=$(manager -S clh 2>&1); then fail "-S clh overwrote a modified file"; fi
expect_contains "$out" "locally modified"
expect_contains "$(manager -e)" "clh         configuration-clh.toml (locally modified)"
[ "$(readlink "$etc/configuration.toml")" = configuration-qemu.toml ] || fail "refusal changed the link"
manager -f -S clh >/dev/null
cmp -s "$etc/configuration-clh.toml" "$defaults/configuration-clh.toml" || fail "-f did not replace"
ls "$etc"/configuration-clh.toml.bak.* >/dev/null || fail "no backup of the modified file"
grep -q "# my change" "$etc"/configuration-clh.toml.bak.* || fail "backup lost the change"
ok "a locally modified copy is kept unless -f, then backed up"

rm "$etc/configuration.toml"
cp "$defaults/configuration-fc.toml" "$etc/configuration.toml"
if out=$(manager -S qemu 2>&1); then fail "-S replaced a regular configuration.toml"; fi
expect_contains "$out" "regular file"
if manager -S default >/dev/null 2>&1; then fail "-S default removed a regular file"; fi
manager -f -S qemu >/dev/null
[ "$(readlink "$etc/configuration.toml")" = configuration-qemu.toml ] || fail "-f -S qemu"
ls "$etc"/configuration.toml.bak.* >/dev/null || fail "no backup of configuration.toml"
ok "a regular configuration.toml is kept unless -f, then backed up"

rm -rf "$etc"
[ "$(env_field Runtime.Config.Path)" = "$defaults/configuration-qemu.toml" ] || fail "reset"
expect_contains "$(manager -e)" "No local configurations"
ok "removing the local directory resets to the packaged default"

if out=$(manager -S vbox 2>&1); then fail "-S vbox"; fi
expect_contains "$out" "expected one of qemu, clh, fc, dragonball, stratovirt, default"
expect_contains "$(manager -h)" "-S NAME"
ok "kata-manager rejects unknown names and has -h"

# --- precedence: --config, KATA_CONF_FILE, /etc, defaults ----------------------
manager -S clh >/dev/null
cp "$defaults/configuration-stratovirt.toml" "$root/env.toml"
cp "$defaults/configuration-fc.toml" "$root/explicit.toml"
[ "$(env_field Hypervisor.Type)" = clh ] || fail "/etc over defaults"
[ "$(KATA_CONF_FILE=$root/env.toml env_field Hypervisor.Type)" = stratovirt ] || fail "KATA_CONF_FILE"
[ "$(KATA_CONF_FILE=$root/env.toml env_field Hypervisor.Type --config "$root/explicit.toml")" = firecracker ] ||
  fail "--config"
[ "$(env_field Hypervisor.Type --kata-config="$root/explicit.toml")" = firecracker ] || fail "--kata-config"
if out=$("$runtime" --config "$root/missing.toml" env 2>&1); then fail "missing --config"; fi
expect_contains "$out" "missing.toml"
ok "lookup precedence: --config/--kata-config, KATA_CONF_FILE, /etc, defaults"

# --- drop-ins and validation errors through the CLI ----------------------------
manager -S qemu >/dev/null
mkdir -p "$etc/config.d"
printf '[hypervisor.qemu]\ndefault_memory = 512\n' >"$etc/config.d/10-memory.toml"
printf '[hypervisor.qemu]\ndefault_memory = 768\n' >"$etc/config.d/20-memory.toml"
[ "$(env_field Hypervisor.DefaultMemory)" = 768 ] || fail "drop-ins"
ok "drop-ins in config.d merge in lexical order"

printf '[hypervisor.qemu]\n\nshared_fs = "virtio-foo"\n' >"$etc/config.d/30-bad.toml"
if out=$("$runtime" env 2>&1); then fail "invalid shared_fs accepted"; fi
expect_contains "$out" "$etc/config.d/30-bad.toml:3: [hypervisor.qemu] shared_fs = \"virtio-foo\": expected one of \"virtio-fs\", \"virtio-9p\", \"none\""
rm "$etc/config.d/30-bad.toml"
printf '[hypervisor.qemu]\nfavourite_colour = "blue"\n' >"$etc/config.d/40-unknown.toml"
out=$("$runtime" env 2>&1)
expect_contains "$out" "unknown key \`favourite_colour\` ignored"
rm "$etc/config.d/40-unknown.toml"
ok "validation errors name file, line, section, key and choices; unknown keys warn"

# --- check: the truthful verdict ------------------------------------------------
mkdir -p "$root/assets"
echo k >"$root/assets/vmlinux"
echo i >"$root/assets/initrd.img"
printf '[hypervisor.qemu]\nkernel = "%s"\ninitrd = "%s"\n' "$root/assets/vmlinux" \
  "$root/assets/initrd.img" >"$etc/config.d/50-assets.toml"
status=0
out=$("$runtime" check --no-network-checks) || status=$?
echo "$out"
if [ $kvm_usable = 1 ]; then
  [ $status -eq 0 ] || fail "check failed on a KVM host"
  expect_contains "$out" "using KVM"
else
  [ $status -eq 0 ] || fail "check should pass under TCG (status $status)"
  [ -e /dev/kvm ] || expect_contains "$out" "/dev/kvm"
  expect_contains "$out" "KVM is not usable here (missing:"
  expect_contains "$out" "software emulation (TCG)"
  if "$runtime" kata-check --strict >/dev/null; then fail "--strict passed without KVM"; fi
  ok "check says what KVM lacks and that TCG is in use; --strict fails"
fi
out=$("$runtime" check --verbose)
expect_contains "$out" "ok       hypervisor /usr/bin/qemu-system-x86_64"
rm "$root/assets/vmlinux"
if out=$("$runtime" check); then fail "check passed without a guest kernel"; fi
expect_contains "$out" "System cannot run Kata Containers with qemu: missing guest kernel $root/assets/vmlinux"
ok "check --verbose lists what is present; a missing guest asset fails the check"

manager -S fc >/dev/null
if out=$("$runtime" check); then
  [ $kvm_usable = 1 ] || fail "firecracker without KVM passed the check"
fi
ok "check fails for a hypervisor that needs KVM when KVM is missing"

# The real /etc was never touched.
[ "$(ls -la /etc/kata-containers 2>&1 || true)" = "$real_etc_before" ] || fail "/etc/kata-containers changed"
ok "the real /etc/kata-containers is untouched"
echo "all $step steps passed"
