"""A private podman (its own containers.conf, storage, run and tmp dirs under a
temp dir) pointed at the build's kata-runtime, and a locally made image (a
busybox-static rootfs imported with `podman import`, no registry).  Used by
test_podman.py and bench/podman.  Not a test module itself.

Podman reaches kata-runtime two ways: conmon calls `create`/`exec` with
conmon_env_vars as its whole environment (KATA_CONF_FILE and the sandbox
daemon's private dirs go there, and CONTAINERS_CONF for conmon's exit command,
`podman container cleanup`); podman itself calls `start`/`kill`/`delete`/
`pause`/`resume` with an almost empty environment: the runtime finds all it
needs in its state file (`/run/kata-containers/<id>/state.json`)."""
import hashlib
import json
import os
import random
import shutil
import subprocess
import tarfile
import tempfile
import time

from runtime_bundle import RUNTIME, make_rootfs
from shim_env import alive, kill_and_unmount, procs_mentioning, write_config

IMAGE = "localhost/kata-busybox:latest"
PODMAN = shutil.which("podman") or "/usr/bin/podman"

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
log_driver = "k8s-file"
netns = "{netns}"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{root}/events.log"
tmp_dir = "{root}/libpod-tmp"
runtime = "{runtime}"
runtime_supports_json = ["kata", "runc", "crun"]
conmon_env_vars = [{conmon_env}]
network_cmd_path = ""

[engine.runtimes]
kata = ["{kata_runtime}"]
runc = ["/usr/sbin/runc", "/usr/bin/runc"]
crun = ["/usr/bin/crun"]

[network]
network_backend = "netavark"
network_config_dir = "{root}/net"
default_network = "{network}"
default_subnet = "{subnet}"
"""

STORAGE_CONF = """[storage]
driver = "{driver}"
graphroot = "{root}/storage"
runroot = "{root}/run"
"""

def podman_available():
    return os.path.exists(PODMAN) and shutil.which("conmon") is not None


class Podman:
    """podman running on a private store; run() calls it."""

    def __init__(self, runtime="kata", driver="overlay", netns="none"):
        self.root = tempfile.mkdtemp(prefix="podman.", dir="/tmp")
        # The default bridge network: a name and a /24 of its own, so that
        # the host's podman network and other runs' stay untouched.
        self.network = "kt" + os.path.basename(self.root)[len("podman."):].lower()
        self.subnet = "10.%d.%d.0/24" % (random.randrange(100, 200), random.randrange(1, 250))
        self.kata_runtime = RUNTIME
        for d in ("net", "libpod-tmp"):
            os.makedirs(os.path.join(self.root, d))
        self.kata_config = write_config(os.path.join(self.root, "configuration.toml"))
        self.conf = os.path.join(self.root, "containers.conf")
        self.storage_conf = os.path.join(self.root, "storage.conf")
        kata_env = {
            "KATA_CONF_FILE": self.kata_config,
            "KATA_STATE_DIR": self.root + "/vc",
            "KATA_SHARED_DIR": self.root + "/shared",
            "KATA_SHIM_SOCKET_DIR": self.root + "/sock",
        }
        self.kata_env = kata_env
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        conmon_env = dict(kata_env, PATH=path, CONTAINERS_CONF=self.conf,
                          CONTAINERS_STORAGE_CONF=self.storage_conf)
        with open(self.conf, "w") as f:
            f.write(CONTAINERS_CONF.format(
                root=self.root, runtime=runtime, netns=netns, network=self.network, subnet=self.subnet, kata_runtime=RUNTIME,
                conmon_env=", ".join('"%s=%s"' % kv for kv in conmon_env.items())))
        self._write_default_network()
        with open(self.storage_conf, "w") as f:
            f.write(STORAGE_CONF.format(root=self.root, driver=driver))
        self.env = {"PATH": path, "HOME": self.root, "CONTAINERS_CONF": self.conf,
                    "CONTAINERS_STORAGE_CONF": self.storage_conf,
                    "XDG_RUNTIME_DIR": self.root + "/xdg"}
        os.makedirs(self.env["XDG_RUNTIME_DIR"], mode=0o700)

    def _write_default_network(self):
        """The default network's file, so that its bridge is ours (podman
        would name it podman0, the host's podman's bridge)."""
        net = self.subnet.rsplit(".", 1)[0]
        conf = {
            "name": self.network, "id": hashlib.sha256(self.root.encode()).hexdigest(),
            "driver": "bridge", "network_interface": self.network,
            "created": "2024-01-01T00:00:00Z",
            "subnets": [{"subnet": self.subnet, "gateway": net + ".1"}],
            "ipv6_enabled": False, "internal": False, "dns_enabled": False,
            "ipam_options": {"driver": "host-local"},
        }
        with open(os.path.join(self.root, "net", self.network + ".json"), "w") as f:
            json.dump(conf, f, indent=1)

    def run(self, *args, check=True, timeout=300, input=None, **kw):
        r = subprocess.run([PODMAN, *args], env=self.env, capture_output=True, timeout=timeout,
                           input=input, **kw)
        if check and r.returncode != 0:
            raise AssertionError("podman %s: exit %d: %s%s" % (
                " ".join(args), r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")))
        return r

    def out(self, *args, **kw):
        return self.run(*args, **kw).stdout.decode(errors="replace")

    def import_image(self, name=IMAGE):
        """A busybox-static rootfs as an image, without a registry."""
        work = tempfile.mkdtemp(prefix="img.", dir=self.root)
        rootfs = os.path.join(work, "rootfs")
        make_rootfs(rootfs)
        tar = os.path.join(work, "rootfs.tar")
        with tarfile.open(tar, "w") as t:
            for entry in sorted(os.listdir(rootfs)):
                t.add(os.path.join(rootfs, entry), arcname=entry)
        self.run("import", "--change", "ENV=PATH=/bin", "--change", "CMD=[\"sh\"]", tar, name)
        shutil.rmtree(work, ignore_errors=True)
        return name

    def vmms(self, cid=""):
        """VMMs and virtiofsd of this podman's sandboxes, or of container
        cid's (the VMM's command line names the sandbox's state dir,
        virtiofsd's its shared dir)."""
        found = set()
        for d in ("vc", "shared"):
            found |= set(procs_mentioning(os.path.join(self.root, d, cid)))
        return sorted(p for p in found if alive(p))

    @staticmethod
    def kata_state_dir(cid):
        """kata-runtime's state dir of a container (the default --root)."""
        return os.path.join("/run/kata-containers/runtime", cid)

    def cleanup(self):
        if os.path.exists(self.root + "/storage"):
            self.run("rm", "--all", "--force", "--time", "0", check=False, timeout=300)
        kill_and_unmount(self.root + "/vc")
        kill_and_unmount(self.root + "/shared")
        if os.path.exists(self.root + "/storage"):
            # podman's own unmount of its storage (overlay layers, shm).
            self.run("system", "reset", "--force", check=False, timeout=120)
        kill_and_unmount(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    def wait_for(self, predicate, seconds=60):
        end = time.time() + seconds
        while time.time() < end:
            v = predicate()
            if v:
                return v
            time.sleep(0.1)
        return predicate()
