"""kata-runtime's OCI verbs where no sandbox daemon is needed: spec, features,
flag parsing, unknown ids, bad bundles (each error clear, nothing left
behind), and the state file of a container whose daemon is gone."""
import json
import os
import subprocess

import pytest

from runtime_bundle import RUNTIME, make_bundle, processes_mentioning


def rt(root, *args, **kw):
    return subprocess.run([RUNTIME, "--root", str(root), *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, **kw)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


def test_spec_writes_runc_default_and_refuses_to_overwrite(tmp_path):
    r = subprocess.run([RUNTIME, "spec", "--bundle", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    spec = json.load(open(tmp_path / "config.json"))
    assert spec["ociVersion"].startswith("1.")
    assert spec["process"]["args"] == ["sh"] and spec["process"]["terminal"] is True
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert {"type": "pid"} in spec["linux"]["namespaces"]
    before = (tmp_path / "config.json").read_text()
    r = subprocess.run([RUNTIME, "spec", "--bundle", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "exists" in r.stderr and "config.json" in r.stderr
    assert (tmp_path / "config.json").read_text() == before


def test_spec_in_working_directory(tmp_path):
    r = subprocess.run([RUNTIME, "spec"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and (tmp_path / "config.json").exists()


def test_features_prints_runc_features_json():
    r = subprocess.run([RUNTIME, "features"], capture_output=True, text=True, check=True)
    f = json.loads(r.stdout)
    assert f["ociVersionMin"] == "1.0.0" and f["ociVersionMax"].startswith("1.")
    assert "bind" in f["mountOptions"] and "rbind" in f["mountOptions"]
    linux = f["linux"]
    assert set(linux["namespaces"]) >= {"pid", "mount", "network", "ipc", "uts"}
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    assert linux["cgroup"]["v2"] is True
    assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"]
    assert f["annotations"]["io.katacontainers.isolation"] == "vm"


@pytest.mark.parametrize("verb", [["state"], ["start"], ["kill"], ["delete"], ["pause"],
                                  ["resume"], ["ps"], ["exec"], ["update", "--memory", "1m"]])
def test_unknown_container_is_reported_as_runc_does(root, verb):
    args = verb + ["nosuch"] + (["true"] if verb == ["exec"] else [])
    r = rt(root, *args)
    assert r.returncode == 1
    assert 'container "nosuch" does not exist' in r.stderr


def test_delete_force_of_unknown_container_succeeds(root):
    r = rt(root, "delete", "--force", "nosuch")
    assert r.returncode == 0, r.stderr


def test_list_without_containers(root):
    r = rt(root, "list")
    assert r.returncode == 0 and r.stdout.split() == ["ID", "PID", "STATUS", "BUNDLE",
                                                      "CREATED", "OWNER"]
    assert rt(root, "list", "--format", "json").stdout.strip() == "null"
    assert rt(root, "list", "-q").stdout == ""


@pytest.mark.parametrize("args,message", [
    (["state"], '"state" requires exactly 1 argument'),
    (["state", "a", "b"], '"state" requires exactly 1 argument'),
    (["kill"], '"kill" requires a minimum of 1'),
    (["kill", "x", "NOSIG"], 'unknown signal "NOSIG"'),
    (["kill", "x", "SIGKILL", "extra"], "maximum of 2"),
    (["list", "--format", "yaml"], 'invalid format option "yaml"'),
    (["ps", "--format", "xml", "x"], 'invalid format option "xml"'),
    (["update", "--memory", "lots", "x"], 'invalid value for --memory: "lots"'),
    (["create", "bad/id"], "invalid container id `bad/id`"),
    (["create", ".."], "invalid container id `..`"),
])
def test_flag_and_argument_errors(root, args, message):
    r = rt(root, *args)
    assert r.returncode == 1
    assert message in r.stderr


def test_unknown_flag_and_verb(root):
    r = rt(root, "delete", "--bogus", "x")
    assert r.returncode != 0 and "bogus" in r.stderr
    r = rt(root, "frobnicate")
    assert r.returncode == 1 and "unknown command `frobnicate`" in r.stderr


@pytest.mark.parametrize("verb", ["create", "start", "run", "state", "list", "ps", "exec", "kill",
                                  "pause", "resume", "update", "delete", "features", "spec"])
def test_every_verb_has_help(root, verb):
    r = rt(root, verb, "--help")
    assert r.returncode == 0 and "Usage: kata-runtime" in r.stdout


def test_runc_style_single_dash_flags_and_equals(root, tmp_path):
    r = subprocess.run([RUNTIME, "spec", f"-bundle={tmp_path}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "config.json").exists()


def test_errors_go_to_the_json_log_as_conmon_reads_them(root, tmp_path):
    log = tmp_path / "oci-log"
    r = subprocess.run([RUNTIME, "--log-format=json", "--log", str(log), "--root", str(root),
                        "state", "nosuch"], capture_output=True, text=True)
    assert r.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and 'container "nosuch" does not exist' in entry["msg"]


def test_systemd_cgroup_flag_is_accepted(root):
    assert rt(root, "--systemd-cgroup", "list").returncode == 0


# ---- bad bundles: a clear error naming the path, nothing left behind ----

def assert_nothing_left(root):
    assert not root.exists() or os.listdir(root) == []
    assert processes_mentioning(root.parent) == []


def test_missing_config_json(root, tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    r = rt(root, "create", "--bundle", str(bundle), "c1")
    assert r.returncode == 1
    assert f"{bundle}/config.json" in r.stderr and "No such file" in r.stderr
    assert_nothing_left(root)


def test_missing_bundle_directory(root, tmp_path):
    r = rt(root, "create", "--bundle", str(tmp_path / "nope"), "c1")
    assert r.returncode == 1 and "nope" in r.stderr
    assert_nothing_left(root)


def test_malformed_config_json_names_line_and_column(root, tmp_path):
    bundle = tmp_path / "b"
    make_bundle(str(bundle), ["true"], rootfs=False)
    (bundle / "rootfs").mkdir()
    (bundle / "config.json").write_text('{\n  "ociVersion": "1.1.0",\n  "process": {,\n}\n')
    r = rt(root, "create", "--bundle", str(bundle), "c1")
    assert r.returncode == 1
    assert f"{bundle}/config.json:3:" in r.stderr and "malformed JSON" in r.stderr
    assert_nothing_left(root)


def test_config_json_without_process(root, tmp_path):
    bundle = tmp_path / "b"
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "config.json").write_text('{"ociVersion": "1.1.0", "root": {"path": "rootfs"}}')
    r = rt(root, "create", "--bundle", str(bundle), "c1")
    assert r.returncode == 1 and "`process` is missing" in r.stderr
    assert_nothing_left(root)


def test_missing_rootfs(root, tmp_path):
    bundle = tmp_path / "b"
    make_bundle(str(bundle), ["true"], rootfs=False)
    r = rt(root, "create", "--bundle", str(bundle), "c1")
    assert r.returncode == 1
    assert f"rootfs `{bundle}/rootfs`" in r.stderr and "No such file" in r.stderr
    assert_nothing_left(root)


def test_unknown_hypervisor_in_configuration(root, tmp_path):
    bundle = tmp_path / "b"
    make_bundle(str(bundle), ["true"], rootfs=False)
    (bundle / "rootfs").mkdir()
    config = tmp_path / "configuration.toml"
    config.write_text('[hypervisor.bogusvisor]\npath = "/usr/bin/qemu-system-x86_64"\n')
    r = subprocess.run([RUNTIME, "--root", str(root), "--config", str(config), "create",
                        "--bundle", str(bundle), "c1"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "bogusvisor" in r.stderr and str(config) in r.stderr
    assert_nothing_left(root)


def test_terminal_without_console_socket_is_refused_for_create(root, tmp_path):
    bundle = tmp_path / "b"
    make_bundle(str(bundle), ["sh"], terminal=True, rootfs=False)
    (bundle / "rootfs").mkdir()
    r = rt(root, "create", "--bundle", str(bundle), "c1")
    assert r.returncode == 1 and "console socket" in r.stderr
    assert_nothing_left(root)


def test_console_socket_without_terminal_is_refused(root, tmp_path):
    bundle = tmp_path / "b"
    make_bundle(str(bundle), ["true"], rootfs=False)
    (bundle / "rootfs").mkdir()
    r = rt(root, "create", "--bundle", str(bundle), "--console-socket", "/tmp/x.sock", "c1")
    assert r.returncode == 1 and "will not allocate tty" in r.stderr
    assert_nothing_left(root)


# ---- the state file ----

def write_state(root, cid, **fields):
    d = root / cid
    d.mkdir(parents=True)
    state = {"id": cid, "bundle": "/nonexistent/bundle", "rootfs": "/nonexistent/bundle/rootfs",
             "created": "2026-01-02T03:04:05.000000006Z", "owner": "root",
             "address": f"unix://{root}/no-daemon.sock", "status": "running",
             "holder_pid": 0, "annotations": {"a": "b"}}
    state.update(fields)
    (d / "state.json").write_text(json.dumps(state))
    return d


def test_state_of_a_container_whose_daemon_is_gone_is_stopped(root):
    write_state(root, "gone")
    r = rt(root, "state", "gone")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["id"] == "gone" and s["status"] == "stopped" and s["pid"] == 0
    assert s["bundle"] == "/nonexistent/bundle" and s["rootfs"] == "/nonexistent/bundle/rootfs"
    assert s["created"] == "2026-01-02T03:04:05.000000006Z" and s["owner"] == "root"
    assert s["annotations"] == {"a": "b"}
    listed = json.loads(rt(root, "list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == ["gone"] and listed[0]["status"] == "stopped"
    assert rt(root, "list", "-q").stdout.split() == ["gone"]


def test_verbs_that_need_a_live_container_refuse_a_stopped_one(root):
    write_state(root, "gone")
    assert "cannot start a container that has stopped" in rt(root, "start", "gone").stderr
    assert "is not running" in rt(root, "kill", "gone", "KILL").stderr
    assert "is not running" in rt(root, "pause", "gone").stderr
    assert "is not paused" in rt(root, "resume", "gone").stderr
    assert "cannot exec in a stopped container" in rt(root, "exec", "gone", "true").stderr


def test_delete_removes_the_state_of_a_stopped_container(root):
    write_state(root, "gone")
    r = rt(root, "delete", "gone")
    assert r.returncode == 0, r.stderr
    assert not (root / "gone").exists()
    assert 'does not exist' in rt(root, "state", "gone").stderr


def test_create_refuses_an_existing_id(root, tmp_path):
    write_state(root, "taken")
    bundle = tmp_path / "b"
    make_bundle(str(bundle), ["true"], rootfs=False)
    (bundle / "rootfs").mkdir()
    r = rt(root, "create", "--bundle", str(bundle), "taken")
    assert r.returncode == 1 and 'container "taken" already exists' in r.stderr
    assert (root / "taken" / "state.json").exists()


def test_a_corrupt_state_file_is_an_error_not_a_crash(root):
    d = root / "bad"
    d.mkdir(parents=True)
    (d / "state.json").write_text('{"id": "bad", "bundle": ')
    r = rt(root, "state", "bad")
    assert r.returncode == 1 and "not a JSON object" in r.stderr
    (d / "state.json").write_text('{"id": "other"}')
    r = rt(root, "state", "bad")
    assert r.returncode == 1 and "names another id" in r.stderr


def test_directories_without_state_are_not_containers(root):
    (root / "half-made").mkdir(parents=True)
    (root / "shim").mkdir()
    assert rt(root, "list", "-q").stdout == ""


# ---- the CLI's root never reaches the daemon's directories ----

@pytest.mark.parametrize("cid", ["shared", "shim"])
def test_an_id_naming_the_daemons_directories_is_refused(tmp_path, cid):
    """With --root the parent of the daemon's directories, `shared` or `shim`
    would be the daemon's own tree: refused before anything is made."""
    root = tmp_path / "kc"
    env = dict(os.environ, KATA_SHARED_DIR=str(root / "shared" / "sandboxes"),
               KATA_SHIM_SOCKET_DIR=str(root / "shim"), KATA_STATE_DIR=str(tmp_path / "sbs"))
    bundle = tmp_path / "b"
    make_bundle(str(bundle), ["true"], rootfs=False)
    (bundle / "rootfs").mkdir()
    r = rt(root, "create", "--bundle", str(bundle), cid, env=env)
    assert r.returncode == 1
    assert f"container id `{cid}` is reserved" in r.stderr, r.stderr
    assert not (root / cid).exists()
    r = rt(root, "delete", "--force", cid, env=env)
    assert r.returncode == 1 and "is reserved" in r.stderr


def test_delete_never_crosses_a_mount_in_the_state_dir(root, tmp_path):
    """A mount inside a container's state dir (a neighbour's rootfs, say) is
    left whole: delete removes what is ours around it and says so."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount")
    d = write_state(root, "gone")
    neighbour = tmp_path / "neighbour-rootfs"
    (neighbour / "bin").mkdir(parents=True)
    (neighbour / "bin" / "sh").write_text("precious")
    (d / "sub").mkdir()
    (d / "sub" / "mnt").mkdir()
    (d / "sub" / "link").symlink_to(neighbour)
    subprocess.run(["mount", "--bind", str(neighbour), str(d / "sub" / "mnt")], check=True)
    try:
        r = rt(root, "delete", "--force", "gone")
        assert r.returncode == 1 and "a mount inside it was left in place" in r.stderr, r.stderr
        assert (neighbour / "bin" / "sh").read_text() == "precious"
        assert not (d / "state.json").exists() and not (d / "sub" / "link").exists()
    finally:
        subprocess.run(["umount", "-l", str(d / "sub" / "mnt")])
    assert (neighbour / "bin" / "sh").read_text() == "precious"
    assert rt(root, "delete", "--force", "gone").returncode == 0
    assert not d.exists()
