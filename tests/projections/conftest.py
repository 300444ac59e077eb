"""A real event store and read model in a temporary place, on each backend: SQLite files, a PostgreSQL database."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from domain.application import VeoRelay
from domain.errors import DomainError
from domain.requests import GenerationSpec
from projections.database import ReadModelDatabase
from server.store import StoreLocation, locate
from tests.postgres import backend_fixture, postgres_cluster_fixture, postgres_url_fixture, store_fixture

__all__ = ["backend_fixture", "postgres_cluster_fixture", "postgres_url_fixture", "random_history", "store_fixture"]


@pytest.fixture
def location(tmp_path: Path, store: str | None) -> StoreLocation:
    return locate(tmp_path, store)


@pytest.fixture
def app(location: StoreLocation) -> Iterator[VeoRelay]:
    application = location.open_app()
    yield application
    application.close()


@pytest.fixture
def db(location: StoreLocation) -> Iterator[ReadModelDatabase]:
    database = location.open_read_model()
    yield database
    database.close()


STATUSES = ["MEDIA_GENERATION_STATUS_PENDING", "MEDIA_GENERATION_STATUS_ACTIVE", "MEDIA_GENERATION_STATUS_SCHEDULED"]


def random_history(app: VeoRelay, rng: random.Random, steps: int) -> None:
    """Drive generations through random legal (and some illegal, refused) commands."""
    ids: list[UUID] = []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.15 or not ids:
            gid, _ = app.request_generation(GenerationSpec(prompt=f"prompt {rng.randrange(1000)}"))
            ids.append(gid)
            continue
        if roll < 0.2:
            _, batch, _ = app.request_batch([GenerationSpec(prompt=f"b{i}") for i in range(rng.randint(1, 4))])
            ids.extend(batch)
            continue
        gid = rng.choice(ids)
        generation = app.get_generation(gid)
        try:
            if roll < 0.25:
                app.request_upscale(gid, resolution=rng.choice(["1080p", "4k"]))
            elif roll < 0.3:
                app.request_retry(gid)
            elif not generation.is_started and roll < 0.4:
                app.record_submitted(gid)
                app.record_deferred(gid, "PUBLIC_ERROR_USER_REQUESTS_THROTTLED", "slow down")
            elif not generation.is_started and roll < 0.6:
                app.record_submitted(gid)
                app.record_started(gid, f"op-{gid}", None, rng.choice(STATUSES))
            elif roll < 0.75:
                app.record_progress(gid, rng.choice(STATUSES))
            elif roll < 0.9:
                app.record_completed(gid, f"mg-{gid}", f"https://v/{gid}.mp4")
            else:
                app.record_failed(gid, rng.choice(["timeout", "PUBLIC_ERROR_UNSAFE_GENERATION"]), "it failed")
        except DomainError:
            pass
