"""Tell whether the tests run under CI, where a test that cannot run fails instead of skipping."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

CI_TRUE = frozenset({"true", "1", "yes"})  # what CI services put in CI; anything else (CI=false) is not CI


def in_ci() -> bool:
    """Whether ``CI`` says true, 1 or yes (any case): .ci/run sets it, and so do CI services."""
    return os.environ.get("CI", "").strip().lower() in CI_TRUE


def skip_unless_ci(reason: str, ci_needs: str) -> NoReturn:
    """Skip the test for ``reason``; under CI fail instead, saying why CI must run it (``ci_needs``).

    A skip in CI would pass silently while the test it skips never ran.
    """
    if in_ci():
        pytest.fail(f"{reason}; {ci_needs}")
    pytest.skip(reason)
