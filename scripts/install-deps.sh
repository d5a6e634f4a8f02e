#!/usr/bin/env bash
# Install the Debian 12 packages the project builds and tests with.  Idempotent:
# does nothing when everything is already there.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config clang llvm libclang-rt-14-dev clang-format
  musl-tools protobuf-c-compiler libprotobuf-c-dev libjson-c-dev libseccomp-dev libcap-dev
  libmnl-dev libcurl4-openssl-dev
  # guest kernel, initrd and image
  linux-source-6.1 bc flex bison libelf-dev libssl-dev cpio e2fsprogs xz-utils kmod
  # VMs
  qemu-system-x86 qemu-utils
  # the KVM test bed (tests/kvm-testbed): Debian's kernel and modules for the L1 VM, its init
  linux-image-amd64 busybox-static
  # tests
  python3 python3-pytest python3-jsonschema iproute2 procps util-linux
  # baselines for bench/run and the kata-runtime tests (runc run of the same bundle)
  runc busybox-static
  # containerd with our shim (tests/integration/test_containerd.py, bench/ctr)
  containerd
  # podman with kata-runtime (tests/integration/test_podman.py, bench/podman); crun is
  # bench/podman's second baseline; bridge networks (test_podman_network.py): netavark,
  # aardvark-dns (names on user-defined networks), curl (the host fetches a published port)
  podman conmon crun fuse-overlayfs uidmap catatonit golang-github-containers-common \
  netavark aardvark-dns iptables curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root to install packages" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
