"""Fixtures for the domain tests: the application on each store backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from tests.postgres import backend_fixture, postgres_cluster_fixture, postgres_url_fixture, store_fixture

__all__ = ["backend_fixture", "postgres_cluster_fixture", "postgres_url_fixture", "store_fixture"]
