"""Fixtures shared by the integration tests."""
import pytest

from shim_env import ShimEnv, assets_built


@pytest.fixture
def sh():
    """A private sandbox daemon world (shim_env.ShimEnv) for a test that boots
    real VMs; skipped without guest assets; cleaned up after."""
    if not assets_built():
        pytest.skip("guest assets not built (guest/build-assets.sh)")
    e = ShimEnv()
    yield e
    e.cleanup()
