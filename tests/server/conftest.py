"""The fake export of tests/server_helpers.py, written once per test module."""
import pytest

from server_helpers import write_fake_export


@pytest.fixture(scope="module")
def fake_export(tmp_path_factory):
    """A base path with version 1 of the fake model."""
    base = tmp_path_factory.mktemp("fake_model")
    write_fake_export(base / "1")
    return base
