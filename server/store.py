"""Where the event store and the read model live, chosen by `--data`/`--store`, and opening them safely.

SQLite (the default): `events.sqlite` in the data directory, or a path / `sqlite:///path`, with the read
model in a file beside it. PostgreSQL: `--store postgresql://user:pass@host:port/db?OPTION=VALUE&...` (missing
parts come from the eventsourcing `POSTGRES_*` settings; the options are libpq's, such as `sslmode`, checked by
`server.postgres_options`), or no `--store` with `PERSISTENCE_MODULE=eventsourcing.postgres` and `POSTGRES_*` in
the environment; the read model's tables live in the same database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from eventsourcing.persistence import PersistenceError

from domain.application import VeoRelay
from projections.database import ReadModelDatabase
from server.postgres_options import SECRET_OPTIONS, MissingDriver, UnknownOption, connection_options, load_driver
from veo_protocol.local_server import private_dir

__all__ = [
    "PostgresTarget",
    "StoreConfigError",
    "StoreError",
    "StoreLocation",
    "StoreUnreachable",
    "locate",
    "redacted",
]

logger = logging.getLogger(__name__)

EVENTS_FILE = "events.sqlite"
VIEWS_SUFFIX = ".views"
POSTGRES_SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "veo-relay"
POSTGRES_EVENTS_TABLE = f"{VeoRelay.name.lower()}_events"
"""The eventsourcing PostgreSQL recorder names its table after the application (SQLite's is `stored_events`)."""


class StoreError(Exception):
    """The store named by the configuration is missing, corrupt, unreachable, or of a kind this build cannot open.

    StoreUnreachable: the PostgreSQL server cannot be connected to (down, wrong address, refused login).
    StoreConfigError: the configuration names no store this build can open (bad URL, unknown option, no driver).
    """


class StoreUnreachable(StoreError):
    """The PostgreSQL server named by the configuration cannot be connected to."""


class StoreConfigError(StoreError):
    """The store's configuration is wrong (a URL it cannot read, an unknown option, no driver): a usage error."""


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database (its password is kept out of reprs and messages)."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = field(default="", repr=False)
    schema: str = ""
    connect_timeout: int = CONNECT_TIMEOUT_S
    options: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """libpq options from the URL's query (`sslmode`, `application_name`, ...), given to every connection."""

    @property
    def description(self) -> str:
        """Where, for messages (no password)."""
        schema = f", schema {self.schema}" if self.schema else ""
        return f"PostgreSQL database {self.dbname!r} at {self.host}:{self.port} (user {self.user}{schema})"

    @property
    def events_table(self) -> tuple[str, str]:
        """(schema, table) of the event store's table."""
        return self.schema or "public", POSTGRES_EVENTS_TABLE

    def conninfo(self) -> dict[str, Any]:
        """psycopg connection keywords."""
        info: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "connect_timeout": self.connect_timeout,
        }
        if self.password:
            info["password"] = self.password
        return {**info, **self.libpq_options()}

    def libpq_options(self) -> dict[str, str]:
        """The URL's libpq options, with the relay's application name unless it names one, and the schema."""
        options = {"application_name": APPLICATION_NAME, **dict(self.options)}
        if self.schema:
            search_path = f"-c search_path={self.schema}"
            options["options"] = f"{options['options']} {search_path}" if options.get("options") else search_path
        return options

    def env(self) -> dict[str, str]:
        """The eventsourcing environment for this database (its pool gets the libpq options too)."""
        from psycopg.conninfo import make_conninfo  # noqa: PLC0415 - psycopg is needed only for PostgreSQL stores

        env = {
            "PERSISTENCE_MODULE": "server.postgres_factory:PostgresFactory",
            "VEO_POSTGRES_OPTIONS": make_conninfo(**self.libpq_options()),
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_CONNECT_TIMEOUT": str(self.connect_timeout),
            # Other nodes write too: a cached aggregate is brought up to date before it is used.
            "AGGREGATE_CACHE_FASTFORWARD": "y",
        }
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return env

    def connect_check(self) -> None:
        """Connect once, so that an unreachable server is reported plainly (and quickly)."""
        import psycopg  # noqa: PLC0415 - psycopg (and libpq) are needed only for PostgreSQL stores

        try:
            with psycopg.connect(**self.conninfo()) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnreachable(f"cannot connect to {self.description}: {reason}") from None

    def has_event_store(self) -> bool:
        """Whether the database already holds the event store's table."""
        import psycopg  # noqa: PLC0415

        table = ".".join(self.events_table)
        try:
            with psycopg.connect(**self.conninfo()) as conn:
                row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"cannot read {self.description}: {exc}") from None
        return row is not None and row[0] is not None


@dataclass(frozen=True)
class StoreLocation:
    """An event store (eventsourcing environment) and its read model: SQLite files or a PostgreSQL database."""

    env: dict[str, str] = field(repr=False)
    sqlite_files: tuple[Path, Path] | None = None
    """(events, views) files of a SQLite store."""
    postgres: PostgresTarget | None = None

    @property
    def events_path(self) -> Path:
        """The SQLite event store file (StoreError for a PostgreSQL store)."""
        return self._files()[0]

    @property
    def views_path(self) -> Path:
        """The SQLite read-model file (StoreError for a PostgreSQL store)."""
        return self._files()[1]

    def _files(self) -> tuple[Path, Path]:
        if self.sqlite_files is None:
            raise StoreError(f"{self.description} is not a SQLite store: it has no files")
        return self.sqlite_files

    @property
    def description(self) -> str:
        """Where the events are, for messages."""
        if self.postgres is not None:
            return self.postgres.description
        return f"SQLite file {self.sqlite_files[0] if self.sqlite_files else '?'}"

    def check_exists(self) -> None:
        """Refuse a missing, unreachable or corrupt store with a message that says which and where."""
        if self.postgres is not None:
            self.postgres.connect_check()
            if not self.postgres.has_event_store():
                msg = f"no event store in {self.postgres.description}: start `veo serve --store URL` first, or migrate"
                raise StoreError(msg)
            return
        path = self.events_path
        if not path.exists():
            msg = (
                f"no event store at {path}: start `veo serve` with this data directory first, "
                "or pass --data DIR / --store URL"
            )
            raise StoreError(msg)
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a readable event store ({exc})") from exc
        if "stored_events" not in tables:
            raise StoreError(f"{path} is an SQLite file but not a veo-relay event store")

    def open_app(self) -> VeoRelay:
        """The application on this store (creating the file or the tables if they do not exist)."""
        if self.postgres is not None:
            self.postgres.connect_check()
            try:
                return VeoRelay(env=self.env)
            except (PersistenceError, OSError) as exc:
                raise StoreError(f"cannot open the event store in {self.postgres.description}: {exc}") from exc
        path = self.events_path
        _private_sqlite(path)
        try:
            return VeoRelay(env=self.env)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the event store {path}: {exc}") from exc

    def open_read_model(self) -> ReadModelDatabase:
        """The read-model database: a file next to a SQLite store, the store's own database for PostgreSQL."""
        if self.postgres is not None:
            from projections.postgres import PostgresReadModel  # noqa: PLC0415 - imports psycopg

            return PostgresReadModel(self.postgres.conninfo(), description=self.postgres.description)
        views = self.views_path
        _private_sqlite(views)
        return ReadModelDatabase(views)


def _private_sqlite(path: Path) -> None:
    """Make a SQLite file readable by this user only (0600) before SQLite opens it: a new one is created so (SQLite
    gives its -wal and -shm files the same mode), an older, more open one and its companions are narrowed."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if os.name == "posix":
        for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                companion.chmod(0o600)


def locate(data_dir: Path, store: str | None, environ: Mapping[str, str] | None = None) -> StoreLocation:
    """The store named by `--store` (a path, `sqlite:///path`, `postgresql://...`), or the default."""
    environ = os.environ if environ is None else environ
    if store is None or store == "":
        if environ.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            return _postgres(None, environ)
        events_path = data_dir / EVENTS_FILE
    else:
        parts = urlsplit(store)
        if parts.scheme in POSTGRES_SCHEMES:
            return _postgres(store, environ)
        if parts.scheme == "sqlite":
            events_path = Path(parts.path if not parts.netloc else f"/{parts.netloc}{parts.path}")
        elif parts.scheme in ("", "file"):
            events_path = Path(parts.path if parts.scheme == "file" else store)
        else:
            raise StoreConfigError(f"--store {redacted(store)!r}: use a file path, sqlite:///path, or postgresql://...")
    events_path = events_path.expanduser().resolve()
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(events_path),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    views_path = events_path.with_name(events_path.stem + VIEWS_SUFFIX + events_path.suffix)
    return StoreLocation(env=env, sqlite_files=(events_path, views_path))


def _postgres(url: str | None, environ: Mapping[str, str]) -> StoreLocation:
    """A PostgreSQL location from a URL, with what it leaves out taken from the POSTGRES_* settings."""
    try:
        load_driver()
    except MissingDriver as exc:
        raise StoreConfigError(str(exc)) from None
    parts = urlsplit(url) if url is not None else None
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) if parts is not None else {}
    try:
        options = connection_options(query)
    except UnknownOption as exc:
        raise StoreConfigError(str(exc)) from None
    try:
        port_in_url = parts.port if parts is not None else None
    except ValueError:
        raise StoreConfigError(f"--store {redacted(url or '')!r}: the port is not a number") from None
    host = (parts.hostname if parts else None) or query.get("host") or environ.get("POSTGRES_HOST") or "127.0.0.1"
    user = (unquote(parts.username) if parts and parts.username else None) or query.get("user")
    user = user or environ.get("POSTGRES_USER")
    password = unquote(parts.password) if parts and parts.password else query.get("password")
    password = environ.get("POSTGRES_PASSWORD", "") if password is None else password
    dbname = (unquote(parts.path.lstrip("/")) if parts else "") or query.get("dbname") or environ.get("POSTGRES_DBNAME")
    dbname = dbname or ""
    port_text = str(port_in_url) if port_in_url else query.get("port") or environ.get("POSTGRES_PORT", "5432")
    timeout_text = query.get("connect_timeout") or environ.get("POSTGRES_CONNECT_TIMEOUT") or str(CONNECT_TIMEOUT_S)
    if not user:
        raise StoreConfigError("PostgreSQL store: no user (postgresql://USER@host/db, or POSTGRES_USER)")
    if not dbname:
        raise StoreConfigError("PostgreSQL store: no database name (postgresql://user@host/DB, or POSTGRES_DBNAME)")
    try:
        port, timeout = int(port_text), int(timeout_text)
    except ValueError:
        raise StoreConfigError("PostgreSQL store: the port and connect_timeout must be whole numbers") from None
    schema = query.get("schema") or environ.get("POSTGRES_SCHEMA", "")
    target = PostgresTarget(host, port, dbname, user, password, schema, timeout, tuple(options.items()))
    return StoreLocation(env=target.env(), postgres=target)


def redacted(url: str) -> str:
    """A store URL without its password, nor the values of secret options in its query."""
    parts = urlsplit(url)
    if parts.password is not None:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1))
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(name in SECRET_OPTIONS for name, _ in pairs):
        parts = parts._replace(query="&".join(f"{k}={'***' if k in SECRET_OPTIONS else v}" for k, v in pairs))
    return parts.geturl()
