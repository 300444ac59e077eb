"""Fixtures for the server tests: a throwaway PostgreSQL database where a test asks for one."""

from __future__ import annotations

from tests.postgres import backend_fixture, postgres_cluster_fixture, postgres_url_fixture, store_fixture

__all__ = ["backend_fixture", "postgres_cluster_fixture", "postgres_url_fixture", "store_fixture"]
