"""SQLite reads that may not wait: `read(wait=False)` fails at once on a lock, and `busy` recognises that."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.database import SQLiteReadModel
from tests.locks import lock_error


@pytest.fixture
def model(tmp_path: Path) -> Iterator[SQLiteReadModel]:
    db = SQLiteReadModel(tmp_path / "views.sqlite")
    yield db
    db.close()


def test_only_lock_errors_count_as_busy(model: SQLiteReadModel, tmp_path: Path) -> None:
    """`busy` is true of SQLITE_BUSY, false of other driver errors and of other exceptions."""
    with model.write() as conn:
        conn.execute("CREATE TABLE t (x)")
    assert model.busy(lock_error(tmp_path / "views.sqlite"))
    with pytest.raises(sqlite3.OperationalError) as other:
        model.reader().execute("SELECT * FROM missing")
    assert not model.busy(other.value)
    assert not model.busy(ValueError("database is locked"))


def test_a_read_that_may_not_wait_has_no_busy_timeout(model: SQLiteReadModel) -> None:
    """`read(wait=False)` uses a connection that fails at once on a lock; `read()` waits (10 s by default)."""
    with model.read(wait=False) as conn:
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (0,)
    with model.read() as conn:
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (10_000,)
