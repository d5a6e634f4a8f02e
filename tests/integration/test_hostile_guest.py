"""A hostile guest against the host (issue: the VM boundary must hold).

Each test runs a privileged container (every capability, no seccomp) in a
real VM, driven as containerd drives the sandbox daemon, and attacks from
inside: it mounts the pod's `kataShared` virtio-fs tag itself and tries to
steer the host's next mounts and unmounts, to write through a read-only
volume, and to leave files, device nodes and setuid binaries on the host.
The host must stay unchanged: no mount outside the sandbox's own dirs, no
host file written, nothing left after delete."""
import json
import os


from runtime_bundle import make_bundle
from shim_env import FifoReader, daemon_pid, mounts_under, task_ok, wait_gone

ALL_CAPS = ["CAP_" + c for c in (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ").split()]

POD = {"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "pod"}


def privileged_bundle(sh, cid, script_for, annotations, volumes=()):
    """A bundle whose process runs script_for(index of the last volume in
    the spec's mounts) with every capability; volumes: (host source,
    destination, read_only)."""
    path = make_bundle(os.path.join(sh.root, "bundles", cid), ["true"], annotations=annotations)
    with open(os.path.join(path, "config.json")) as f:
        spec = json.load(f)
    for k in ("bounding", "effective", "permitted", "inheritable"):
        spec["process"]["capabilities"][k] = ALL_CAPS
    spec["linux"].pop("seccomp", None)
    spec["linux"]["maskedPaths"] = []
    spec["linux"]["readonlyPaths"] = []
    for source, dest, ro in volumes:
        spec["mounts"].append({"destination": dest, "type": "bind", "source": source,
                               "options": ["rbind", "ro" if ro else "rw"]})
    spec["process"]["args"] = ["sh", "-c", script_for(len(spec["mounts"]) - 1)]
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f)
    return path


def attack_script(cid, ro_index, host_target):
    """Mount the share in the guest, then try every way to reach the host."""
    s = "/mnt/share"
    tries = [
        # a symlink where the next container's rootfs will be mounted
        ("plant_next_rootfs", f"mkdir {s}/next && ln -s {host_target} {s}/next/rootfs"),
        ("plant_next_dir", f"ln -s {host_target} {s}/next"),
        # replace our own mounts dir: delete would unmount through it
        ("replace_mounts", f"mv {s}/{cid}/mounts {s}/{cid}/gone && ln -s / {s}/{cid}/mounts"),
        ("big_file", f"dd if=/dev/zero of={s}/big bs=1048576 count=20"),
        ("device_node", f"mknod {s}/sda b 8 0"),
        ("setuid_binary", f"cp /bin/busybox {s}/suid && chmod 4755 {s}/suid"),
        # a read-only volume, through the share and through a remount
        ("ro_volume_share", f"echo pwned > {s}/{cid}/mounts/{ro_index}/pwned"),
        ("ro_volume_remount", "mount -o remount,rw /ro && echo pwned > /ro/pwned2"),
    ]
    lines = [f"mkdir -p {s}", f"mount -t virtiofs kataShared {s} && echo MOUNTED"]
    for name, cmd in tries:
        lines.append(f"if ( {cmd} ) 2>/dev/null; then echo {name}=done; "
                     f"else echo {name}=refused; fi")
    lines += ["echo ATTACKS-OVER", "sleep 1000"]
    return "\n".join(lines)


def test_a_privileged_guest_cannot_steer_host_mounts_or_write_a_read_only_volume(sh):
    host_target = os.path.join(sh.root, "host-target")  # stands for /etc, /usr/bin
    os.makedirs(host_target)
    with open(os.path.join(host_target, "passwd"), "w") as f:
        f.write("root:x:0:0::/root:/bin/sh\n")
    volume = os.path.join(sh.root, "volume")
    os.makedirs(volume)
    with open(os.path.join(volume, "data"), "w") as f:
        f.write("kept\n")

    b1 = privileged_bundle(sh, "pod", lambda i: attack_script("pod", i, host_target), POD,
                           volumes=[(volume, "/ro", True)])
    out = sh.fifo("pod.out")
    reader = FifoReader(out)
    address = sh.start("pod", b1)
    task_ok(address, "Create", {"id": "pod", "bundle": b1, "stdout": out})
    task_ok(address, "Start", {"id": "pod"})
    text = reader.read_until(lambda d: b"ATTACKS-OVER" in d, 300).decode()
    assert "MOUNTED" in text, text  # the guest really holds the share
    results = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert len(results) == 8, text
    assert all(v == "refused" for v in results.values()), text

    # The next container of the pod: its rootfs lands in the sandbox's dirs.
    b2 = make_bundle(os.path.join(sh.root, "bundles", "next"), ["cat", "/etc/passwd"],
                     annotations={"io.kubernetes.cri.container-type": "container",
                                  "io.kubernetes.cri.sandbox-id": "pod"})
    out2 = sh.fifo("next.out")
    r2 = FifoReader(out2)
    assert sh.start("next", b2) == address
    task_ok(address, "Create", {"id": "next", "bundle": b2, "stdout": out2})
    task_ok(address, "Start", {"id": "next"})
    assert task_ok(address, "Wait", {"id": "next"})["exit_status"] == 0
    assert b"root:x:0:0:root" in r2.read_until(lambda d: b"\n" in d)
    assert mounts_under(host_target) == []
    assert os.listdir(host_target) == ["passwd"]
    assert sorted(os.listdir(volume)) == ["data"]
    for m in mounts_under("/"):
        if m.startswith(sh.root):
            assert m.startswith(sh.root + "/shared/pod/") or \
                m.startswith(sh.root + "/bundles/"), m

    pid = daemon_pid(address)
    task_ok(address, "Delete", {"id": "next"})
    task_ok(address, "Kill", {"id": "pod", "signal": 9})
    task_ok(address, "Wait", {"id": "pod"})
    task_ok(address, "Delete", {"id": "pod"})
    task_ok(address, "Shutdown", {"id": "pod"})
    assert wait_gone(pid)
    sh.assert_clean()
    assert not os.path.exists(os.path.join(sh.root, "shared", "pod"))
    assert sorted(os.listdir(volume)) == ["data"]
    assert os.listdir(host_target) == ["passwd"]
