"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil

import pytest


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
