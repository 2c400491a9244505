"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _cache_dir_of_the_test_session(tmp_path_factory) -> Iterator[str]:
    """Every test, and every process a test starts (the command line, the notebook), caches parsed data
    in one fresh folder of this session: none reads the real home's cache, none writes to it."""
    folder = str(tmp_path_factory.mktemp("data_cache"))
    before = os.environ.get("AUTOGRAD_NN_CACHE_DIR")
    os.environ["AUTOGRAD_NN_CACHE_DIR"] = folder
    yield folder
    if before is None:
        os.environ.pop("AUTOGRAD_NN_CACHE_DIR", None)
    else:
        os.environ["AUTOGRAD_NN_CACHE_DIR"] = before


@pytest.fixture
def dot_program() -> str:
    """The path of Graphviz's ``dot`` program; the test is skipped when it is missing.

    With ``AUTOGRAD_NN_REQUIRE_DOT=1`` (set in CI) a missing ``dot`` fails the test instead, so CI
    always renders for real.
    """
    path = shutil.which("dot")
    if path is None:
        message = (
            "Graphviz's `dot` program is not on PATH (apt-get install graphviz, or brew install graphviz)"
        )
        if os.environ.get("AUTOGRAD_NN_REQUIRE_DOT") == "1":
            pytest.fail(f"{message}, and AUTOGRAD_NN_REQUIRE_DOT=1 requires it")
        pytest.skip(message)
    return path
