"""Real SQLite lock errors for tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

__all__ = ["lock_error"]


def lock_error(path: Path) -> sqlite3.OperationalError:
    """A genuine 'database is locked' error: a second writer that may not wait."""
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        first.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as caught:
            second.execute("BEGIN IMMEDIATE")
        first.execute("ROLLBACK")
        return caught.value
    finally:
        first.close()
        second.close()
