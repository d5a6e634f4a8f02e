"""A private containerd (its own config, root, state and sockets under a temp
dir) with containerd-shim-kata-v2 on its PATH, and a locally built image (a
busybox-static rootfs as an OCI archive written by hand, no registry).  Used by
test_containerd.py and bench/ctr.  Not a test module itself."""
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

from runtime_bundle import make_rootfs
from shim_env import SHIM, alive, kill_and_unmount, procs_mentioning, write_config

IMAGE = "docker.io/library/kata-busybox:latest"
KATA = "io.containerd.kata.v2"
RUNC = "io.containerd.runc.v2"


def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def make_oci_archive(path, name=IMAGE):
    """An OCI image archive of one layer: a busybox-static rootfs."""
    work = tempfile.mkdtemp(prefix="ociimg.", dir="/tmp")
    try:
        rootfs = os.path.join(work, "rootfs")
        make_rootfs(rootfs)
        layout = os.path.join(work, "layout")
        os.makedirs(os.path.join(layout, "blobs", "sha256"))
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as t:
            for entry in sorted(os.listdir(rootfs)):
                t.add(os.path.join(rootfs, entry), arcname=entry)
        diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
        layer, layer_size = _blob(layout, gzip.compress(raw.getvalue(), 1))
        config = {
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        cfg, cfg_size = _blob(layout, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cfg, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer, "size": layer_size}],
        }
        man, man_size = _blob(layout, json.dumps(manifest).encode())
        index = {
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": man, "size": man_size,
                           "platform": {"architecture": "amd64", "os": "linux"},
                           "annotations": {"io.containerd.image.name": name,
                                           "org.opencontainers.image.ref.name": "latest"}}],
        }
        with open(os.path.join(layout, "index.json"), "w") as f:
            json.dump(index, f)
        with open(os.path.join(layout, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        with tarfile.open(path, "w") as t:
            for entry in ("oci-layout", "index.json", "blobs"):
                t.add(os.path.join(layout, entry), arcname=entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


CONFIG = """version = 2
root = "{root}/lib"
state = "{root}/run"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{root}/containerd.sock"
[ttrpc]
  address = "{root}/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "info"
[plugins."io.containerd.monitor.v1.cgroups"]
  no_prometheus = true
"""


class Containerd:
    """containerd running privately; ctr() talks to it."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ctrd.", dir="/tmp")
        self.bin = os.path.join(self.root, "bin")
        os.makedirs(self.bin)
        os.symlink(SHIM, os.path.join(self.bin, "containerd-shim-kata-v2"))
        self.config = os.path.join(self.root, "config.toml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(root=self.root))
        self.kata_config = write_config(os.path.join(self.root, "configuration.toml"))
        self.socket = os.path.join(self.root, "containerd.sock")
        self.env = dict(os.environ)
        self.env.update(
            PATH=self.bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            KATA_CONF_FILE=self.kata_config, KATA_STATE_DIR=self.root + "/vc",
            KATA_SHARED_DIR=self.root + "/shared", KATA_SHIM_SOCKET_DIR=self.root + "/s")
        self.proc = None
        self.log = os.path.join(self.root, "containerd.log")

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(["containerd", "--config", self.config], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     start_new_session=True)
        logf.close()
        for _ in range(200):
            if self.ctr("version", check=False).returncode == 0:
                return self
            time.sleep(0.05)
        raise RuntimeError("containerd did not start: " + open(self.log).read()[-2000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def ctr(self, *args, check=True, timeout=300, input=None, **kw):
        r = subprocess.run(["ctr", "--address", self.socket, *args], env=self.env,
                           capture_output=True, timeout=timeout, input=input, **kw)
        if check and r.returncode != 0:
            raise AssertionError("ctr %s: %s%s" % (" ".join(args), r.stdout.decode(errors="replace"),
                                                   r.stderr.decode(errors="replace")))
        return r

    def import_image(self):
        archive = make_oci_archive(os.path.join(self.root, "image.tar"))
        self.ctr("image", "import", archive)
        return IMAGE

    def shims(self):
        return [p for p in procs_mentioning("containerd-shim-kata-v2") if alive(p)
                and self.root in _environ(p)]

    def vmms(self):
        return [p for p in procs_mentioning(self.root + "/vc") if alive(p)]

    def cleanup(self):
        self.stop()
        kill_and_unmount(self.root, self.shims())
        shutil.rmtree(self.root, ignore_errors=True)


def _environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""
