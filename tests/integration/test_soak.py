"""The short soak (issue 13): bench/soak with a handful of create/start/exec/
delete cycles through kata-runtime and through a private containerd, one at a
time and 4 at a time, then execs against one long-lived pod: no failure, no fd
growth in its sandbox daemon beyond a small slack, nothing left behind (the
benchmark runs the long one: bench/soak --cycles 500)."""
import os
import re
import shutil
import subprocess

import pytest

from shim_env import TOP, assets_built

SOAK = os.path.join(TOP, "bench", "soak")
CYCLES = int(os.environ.get("KATA_SOAK_CYCLES", "6"))


def soak(tmp_path, *args):
    """bench/soak checks itself that nothing of its private dirs is left."""
    return subprocess.run([SOAK, "--cycles", str(CYCLES), "--keep", str(tmp_path / "evidence"),
                           *args], capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(autouse=True)
def assets():
    if not assets_built():
        pytest.skip("guest assets not built (guest/build-assets.sh)")


def check(r):
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    rows = re.findall(r"^(.+?)\s+cycles\s+(\d+)\s+failures\s+(\d+)", r.stdout, re.M)
    assert rows, out
    for name, cycles, failures in rows:
        assert int(cycles) == CYCLES and int(failures) == 0, out
    assert "left behind" not in out, out
    return rows, out


def test_soak_cli_sequential_parallel_and_a_long_lived_pod(tmp_path):
    rows, out = check(soak(tmp_path, "--modes", "cli"))
    assert [n.strip() for n, _, _ in rows] == ["cli sequential", "cli 4 at a time",
                                               "long-lived pod execs"], out
    m = re.search(r"fds (\d+) -> (\d+), RSS (\d+) -> (\d+) kB after \d+ execs: no growth", out)
    assert m, out
    fd0, fd1 = int(m.group(1)), int(m.group(2))
    assert fd1 - fd0 <= 2, out


def test_soak_containerd_sequential_and_parallel(tmp_path):
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (scripts/install-deps.sh)")
    rows, out = check(soak(tmp_path, "--modes", "containerd", "--phases", "seq,par"))
    assert [n.strip() for n, _, _ in rows] == ["containerd sequential",
                                               "containerd 4 at a time"], out
