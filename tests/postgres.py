"""A throwaway PostgreSQL cluster for the test session, and the fixtures that run tests on both backends.

A conftest makes the fixtures `postgres_cluster`, `postgres_url`, `backend` (sqlite, postgres) and
`store` available by importing their `*_fixture` functions. The cluster is created on first use with
`initdb` in a temporary directory (as the unprivileged `postgres` user through `runuser` when the tests
run as root: initdb refuses root), started with `pg_ctl` on a free loopback port, and stopped and
deleted when the session ends. Each test gets a fresh database.

Without PostgreSQL binaries the postgres cases skip, saying why, except where `VEO_REQUIRE_POSTGRES=1`
(CI), where they fail: a skip there would hide a missing install step.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.processes import free_port

__all__ = [
    "BACKENDS",
    "REQUIRED",
    "PostgresCluster",
    "backend_fixture",
    "find_binaries",
    "postgres_cluster_fixture",
    "postgres_url_fixture",
    "require_postgres",
    "store_fixture",
]

REQUIRED = os.environ.get("VEO_REQUIRE_POSTGRES") == "1"
BACKENDS = ("sqlite", "postgres")
SUPERUSER = "postgres"
START_TIMEOUT_S = 60


def find_binaries() -> Path | None:
    """The directory holding `initdb` and `pg_ctl` (PATH first, then Debian's versioned directories)."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return candidates[-1].parent if candidates else None


@dataclass
class PostgresCluster:
    """A running cluster: its directory, port and owner; databases are created per test."""

    bin_dir: Path
    directory: Path
    port: int
    run_as: str | None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, cwd=self.directory, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr or result.stdout}")

    @classmethod
    def create(cls, bin_dir: Path) -> PostgresCluster:
        """initdb in a fresh temporary directory and start the server on a free loopback port."""
        run_as = SUPERUSER if os.geteuid() == 0 else None
        directory = Path(tempfile.mkdtemp(prefix="veo-pg-"))
        if run_as is not None:
            shutil.chown(directory, run_as, run_as)
        cluster = cls(bin_dir, directory, free_port(), run_as)
        data = str(directory / "data")
        cluster._run("initdb", "-D", data, "--auth=trust", f"--username={SUPERUSER}", "--no-sync", "-E", "UTF8")
        options = (
            f"-p {cluster.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
        )
        cluster._run("pg_ctl", "-D", data, "-l", str(directory / "log"), "-o", options, "-w", "-t", "60", "start")
        return cluster

    def stop(self) -> None:
        """Stop the server at once and delete its directory."""
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        """A `postgresql://` URL for one of the cluster's databases."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _psql(self, sql: str) -> None:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres", "-qc", sql)

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"veo_test_{os.getpid()}_{next(self._names)}"
        self._psql(f"CREATE DATABASE {name} TEMPLATE template0")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database even if connections are still open."""
        self._psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_lock = threading.Lock()
_cluster: PostgresCluster | None = None
_failure: str | None = None


def _session_cluster() -> PostgresCluster:
    global _cluster, _failure  # noqa: PLW0603 - one cluster per test process, shared by every conftest
    with _lock:
        if _cluster is not None:
            return _cluster
        if _failure is None:
            bin_dir = find_binaries()
            if importlib.util.find_spec("psycopg") is None:
                _failure = "psycopg is not installed: pip install 'veo-relay[postgres]'"
            elif bin_dir is None:
                _failure = "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql"
            elif os.geteuid() == 0 and shutil.which("runuser") is None:
                _failure = "running as root needs runuser to start PostgreSQL as an unprivileged user"
            else:
                try:
                    _cluster = PostgresCluster.create(bin_dir)
                except (RuntimeError, OSError, KeyError, LookupError) as exc:
                    _failure = f"could not start a PostgreSQL cluster: {exc}"
                else:
                    atexit.register(_cluster.stop)
                    return _cluster
        if REQUIRED:
            pytest.fail(f"VEO_REQUIRE_POSTGRES=1 but {_failure}")
        pytest.skip(_failure)


def require_postgres() -> PostgresCluster:
    """The session's cluster (skips, or under CI fails, when PostgreSQL cannot run here)."""
    return _session_cluster()


@pytest.fixture(scope="session", name="postgres_cluster")
def postgres_cluster_fixture() -> PostgresCluster:
    """The session's PostgreSQL cluster."""
    return require_postgres()


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)


@pytest.fixture(params=BACKENDS, name="backend")
def backend_fixture(request: pytest.FixtureRequest) -> str:
    """The store backend under test: `sqlite` or `postgres`."""
    name: str = request.param
    return name


@pytest.fixture(name="store")
def store_fixture(backend: str, request: pytest.FixtureRequest) -> str | None:
    """`--store` for the backend under test: None (SQLite in the data directory) or a fresh database's URL."""
    if backend == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url
