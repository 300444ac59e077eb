"""Jobs already running on Flow, recorded in a store: how benchmarks start N jobs at once (CONTRACT §7);
and finished generations with long prompts (`seed_finished`): a long history for the read benchmarks.

The simulator's `create_operations` makes N running operations without N submissions; `seed_running_jobs`
records the matching generations (Requested, Submitted, Started with the operation's name and scene id)
in the store of a data directory, so a System started on it restores them as running jobs.
"""

from __future__ import annotations

import logging
import random
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from domain.application import VeoRelay
from domain.generation import Generation
from domain.requests import DEFAULT_PROFILE, GenerationSpec
from domain.values import DEFAULT_MODEL, MAX_SEED, AspectRatio, JobType, Priority
from server.store import locate

__all__ = ["ACTIVE", "completion_offsets", "record_running", "seed_finished", "seed_running_jobs"]

logger = logging.getLogger(__name__)

ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"
"""The simulator makes admin operations ACTIVE at once; Started says so, so no Progressed follows."""
_SAVE_CHUNK = 200


def completion_offsets(count: int, lo: float, hi: float, seed: int) -> list[float]:
    """Seconds from creation to completion, uniform in [lo, hi]: the same list for every strategy."""
    rng = random.Random(f"bench-completions:{seed}")
    return [rng.uniform(lo, hi) for _ in range(count)]


def record_running(
    app: VeoRelay, operations: Sequence[Mapping[str, Any]], profile_id: str = DEFAULT_PROFILE
) -> list[UUID]:
    """Record one started generation per simulator operation (as `create_operations` lists them)."""
    rng = random.Random(len(operations))
    ids: list[UUID] = []
    batch: list[Generation] = []
    for index, operation in enumerate(operations):
        generation = Generation(
            generation_id=uuid4(),
            job_type=JobType.GENERATION.value,
            prompt=f"bench job {index}",
            model=str(operation.get("model") or DEFAULT_MODEL),
            aspect_ratio=AspectRatio.LANDSCAPE.value,
            seed=rng.randint(0, MAX_SEED),
            priority=Priority.NORMAL.value,
            profile_id=profile_id,
            scene_id=str(operation["scene_id"]),
        )
        generation.submit()
        generation.start(operation_name=operation["name"], media_name=operation.get("media_name"), remote_status=ACTIVE)
        ids.append(generation.id)
        batch.append(generation)
        if len(batch) == _SAVE_CHUNK:
            app.save(*batch)
            batch.clear()
    if batch:
        app.save(*batch)
    return ids


def seed_running_jobs(
    data_dir: Path, operations: Sequence[Mapping[str, Any]], profile_id: str = DEFAULT_PROFILE
) -> list[UUID]:
    """Record the operations as running generations in the data directory's store; returns their ids."""
    location = locate(data_dir, None)
    app = location.open_app()
    try:
        return record_running(app, operations, profile_id)
    finally:
        app.close()


def seed_finished(data: Path, jobs: int, prompt_chars: int, rng: random.Random) -> UUID:
    """Record `jobs` finished generations with prompts of `prompt_chars` words' characters in the store of a data
    directory (a long history and journal); the first one's id, to ask about."""
    app = locate(data, None).open_app()
    try:
        words = [("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))) for _ in range(400)]
        first: UUID | None = None
        for start in range(0, jobs, 100):
            specs = [
                GenerationSpec(prompt=" ".join(rng.choices(words, k=prompt_chars // 6))[:prompt_chars])
                for _ in range(min(100, jobs - start))
            ]
            _, ids, _ = app.request_batch(specs)
            for index, generation_id in enumerate(ids):
                app.record_submitted(generation_id)
                app.record_started(generation_id, f"seed-op-{start + index}", None, "MEDIA_GENERATION_STATUS_PENDING")
                app.record_completed(generation_id, f"seed-mg-{start + index}", "http://127.0.0.1:9/seed.mp4")
            first = first or ids[0]
        assert first is not None
        return first
    finally:
        app.close()
