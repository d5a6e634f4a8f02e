"""Helpers for the kata-runtime tests: OCI bundles with a busybox-static rootfs
(Debian's busybox-static), the binaries of the build tree, and leak checks."""
import json
import os
import shutil
import subprocess

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KATA_BUILD", os.path.join(TOP, "build"))
RUNTIME = os.path.join(BUILD, "src", "runtime", "kata-runtime")
SHIM = os.path.join(BUILD, "src", "shim", "containerd-shim-kata-v2")
BUSYBOX = "/bin/busybox"


def make_rootfs(rootfs):
    os.makedirs(os.path.join(rootfs, "bin"), exist_ok=True)
    for d in ("proc", "sys", "dev", "tmp", "etc", "root"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        link = os.path.join(rootfs, "bin", a)
        if not os.path.exists(link):
            os.symlink("busybox", link)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")


def default_spec(runtime=RUNTIME):
    """The config.json `kata-runtime spec` writes, as a dict."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([runtime, "spec", "--bundle", d], check=True)
        with open(os.path.join(d, "config.json")) as f:
            return json.load(f)


def make_bundle(path, args, terminal=False, env=None, annotations=None, rootfs=True):
    """A bundle at path running args; returns path."""
    os.makedirs(path, exist_ok=True)
    spec = default_spec()
    spec["process"]["args"] = list(args)
    spec["process"]["terminal"] = terminal
    spec["root"]["readonly"] = False
    # runc's default asks for ambient capabilities without inheritable ones;
    # runc only warns when it cannot raise them, our agent refuses (reported).
    spec["process"]["capabilities"].pop("ambient", None)
    if env:
        spec["process"]["env"] += list(env)
    if annotations:
        spec["annotations"] = dict(annotations)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)
    if rootfs:
        make_rootfs(os.path.join(path, "rootfs"))
    return path


def processes_named(name):
    """Pids whose command name (comm) or argv[0] basename is name."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if os.path.basename(argv0) == name and state != "Z":
            found.append(int(pid))
    return found


def processes_mentioning(path):
    """Live processes whose command line names path (a test's own directory):
    its holders, daemons, VMMs and virtiofsd, and nobody else's, even when
    other test runs share the machine."""
    path = str(path)
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if path in cmdline and state != "Z":
            found.append(int(pid))
    return found


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def open_fds():
    return sorted(os.listdir("/proc/self/fd"))
