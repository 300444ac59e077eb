"""Under CI (`VEO_REQUIRE_POSTGRES=1`) the PostgreSQL tests must run, not skip: a skip would hide a missing
install step, so this test fails when the server binaries, runuser/the postgres user (as root) or psycopg
are absent there."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil

import pytest

from tests.postgres import REQUIRED, PostgresCluster, find_binaries, require_postgres


@pytest.mark.skipif(not REQUIRED, reason="only checked where VEO_REQUIRE_POSTGRES=1 (CI)")
def test_postgresql_and_psycopg_are_installed() -> None:
    """initdb and pg_ctl (Debian's postgresql), psycopg, and as root runuser and the postgres user."""
    assert find_binaries() is not None, "apt-get install postgresql"
    assert importlib.util.find_spec("psycopg") is not None, "pip install 'veo-relay[postgres]'"
    if os.geteuid() == 0:
        assert shutil.which("runuser") is not None, "apt-get install util-linux"
        assert pwd.getpwnam("postgres"), "the postgresql package creates the postgres user"


@pytest.mark.skipif(not REQUIRED, reason="only checked where VEO_REQUIRE_POSTGRES=1 (CI)")
def test_a_throwaway_cluster_starts_and_serves_a_fresh_database() -> None:
    """The session's cluster is up on loopback and hands out empty databases."""
    cluster = require_postgres()
    assert isinstance(cluster, PostgresCluster)
    name = cluster.create_database()
    try:
        assert cluster.url(name).startswith("postgresql://postgres@127.0.0.1:")
    finally:
        cluster.drop_database(name)
