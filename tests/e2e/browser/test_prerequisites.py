"""Under CI (`VEO_REQUIRE_BROWSER=1`) the browser tests must run, not skip: a skip would hide a missing
install step, so this test fails when Chromium or Playwright is absent there."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REQUIRED = os.environ.get("VEO_REQUIRE_BROWSER") == "1"


@pytest.mark.skipif(not REQUIRED, reason="only checked where VEO_REQUIRE_BROWSER=1 (CI)")
def test_chromium_and_playwright_are_installed() -> None:
    """Debian's chromium and the playwright package are both present."""
    assert Path("/usr/bin/chromium").exists(), "apt-get install chromium"
    assert importlib.util.find_spec("playwright") is not None, "pip install playwright"
