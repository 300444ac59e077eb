"""Where the event store and the read model live, chosen by `--data`/`--store`, and opening them safely."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from domain.application import VeoRelay
from projections.database import ReadModelDatabase

__all__ = ["StoreError", "StoreLocation", "locate"]

logger = logging.getLogger(__name__)

EVENTS_FILE = "events.sqlite"
VIEWS_SUFFIX = ".views"


class StoreError(Exception):
    """The store named by the configuration is missing, corrupt, or of a kind this build cannot open."""


@dataclass(frozen=True)
class StoreLocation:
    """An event store (eventsourcing environment) and its read-model file."""

    env: dict[str, str]
    events_path: Path
    views_path: Path

    @property
    def description(self) -> str:
        """Where the events are, for messages."""
        return f"SQLite file {self.events_path}"

    def check_exists(self) -> None:
        """Refuse a missing or corrupt store with a message that says which and where."""
        if not self.events_path.exists():
            msg = (
                f"no event store at {self.events_path}: start `veo serve` with this data directory first, "
                "or pass --data DIR / --store URL"
            )
            raise StoreError(msg)
        try:
            conn = sqlite3.connect(f"file:{self.events_path}?mode=ro", uri=True)
            try:
                tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.events_path} is not a readable event store ({exc})") from exc
        if "stored_events" not in tables:
            raise StoreError(f"{self.events_path} is an SQLite file but not a veo-relay event store")

    def open_app(self) -> VeoRelay:
        """The application on this store (creating the file if it does not exist)."""
        self.events_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return VeoRelay(env=self.env)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the event store {self.events_path}: {exc}") from exc

    def open_read_model(self) -> ReadModelDatabase:
        """The read-model database next to the store."""
        self.views_path.parent.mkdir(parents=True, exist_ok=True)
        return ReadModelDatabase(self.views_path)


def locate(data_dir: Path, store: str | None) -> StoreLocation:
    """The store named by `--store` (a path, `sqlite:///path`), or `events.sqlite` in the data directory."""
    if store is None or store == "":
        events_path = data_dir / EVENTS_FILE
    else:
        parts = urlsplit(store)
        if parts.scheme in ("postgresql", "postgres"):
            msg = "PostgreSQL stores are not supported by this build yet (issue: scale out on PostgreSQL)"
            raise StoreError(msg)
        if parts.scheme == "sqlite":
            events_path = Path(parts.path if not parts.netloc else f"/{parts.netloc}{parts.path}")
        elif parts.scheme in ("", "file"):
            events_path = Path(parts.path if parts.scheme == "file" else store)
        else:
            raise StoreError(f"--store {store!r}: use a file path, sqlite:///path, or postgresql://...")
    events_path = events_path.expanduser().resolve()
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(events_path),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    views_path = events_path.with_name(events_path.stem + VIEWS_SUFFIX + events_path.suffix)
    return StoreLocation(env=env, events_path=events_path, views_path=views_path)
