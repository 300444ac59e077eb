"""Event store and projection throughput on a SQLite file (or, with --store, a PostgreSQL database).

Prints events appended per second (one event per transaction, and batched), events read and decoded per
second (the projections' fast reader against the library's `select_notifications` plus its mapper), and
projection rebuild events per second for N events, against a baseline in the same run: the same handlers
applied one event per transaction (the eventsourcing TrackingRecorder pattern). Target: rebuild >= 50,000
events/s.

    .venv/bin/python bench/store.py --events 100000
    .venv/bin/python bench/store.py --events 100000 --prompt-chars 600   # realistic prompt lengths
    .venv/bin/python bench/store.py --store postgresql://user@127.0.0.1:5432/empty_db
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from uuid import UUID

from domain.application import VeoRelay
from domain.generation import Generation
from domain.requests import GenerationSpec
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.events import read_events
from projections.history import HistoryView
from projections.rebuild import rebuild
from server.store import locate

EVENTS_PER_GENERATION = 5


def read_rate(app: VeoRelay, total: int, page: int = 5000) -> tuple[float, float]:
    """Events/s read and decoded: the fast reader, and select_notifications + the mapper."""
    started = time.perf_counter()
    position = 0
    while position < total:
        _, position = read_events(app, position, page)
    fast = total / (time.perf_counter() - started)
    started = time.perf_counter()
    position = 0
    while position < total:
        notifications = app.recorder.select_notifications(start=position + 1, limit=page)
        for notification in notifications:
            app.mapper.to_domain_event(notification)
        position = notifications[-1].id
    return fast, total / (time.perf_counter() - started)


def lifecycle(generation: Generation, index: int) -> None:
    generation.submit()
    generation.start(f"op-{index}", f"media-{index}", "MEDIA_GENERATION_STATUS_PENDING")
    generation.progress("MEDIA_GENERATION_STATUS_ACTIVE")
    generation.complete(f"mg-{index}", f"https://example.invalid/{index}.mp4", "MEDIA_GENERATION_STATUS_SUCCESSFUL")


def append_single(app: VeoRelay, count: int) -> float:
    """One event per transaction: `count` requests, each saved alone."""
    started = time.perf_counter()
    for index in range(count):
        app.request_generation(GenerationSpec(prompt=f"single {index}", seed=index))
    return count / (time.perf_counter() - started)


VOCABULARY = (
    "cinematic slow motion drone shot over a misty pine forest at dawn golden light volumetric fog "
    "a red fox trots across fresh snow close up shallow depth of field 35mm film grain handheld "
    "neon city street at night rain reflections crowd umbrellas wide angle tracking shot soft focus"
)
WORDS = VOCABULARY.split()


def prompt_text(index: int, chars: int) -> str:
    """A prompt of about `chars` characters of English-like words (seeded, so every run writes the same)."""
    if chars <= 0:
        return f"prompt {index}"
    rng = random.Random(index)
    words = [f"shot {index}:"]
    length = len(words[0])
    while length < chars:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def append_batched(app: VeoRelay, generations: int, per_save: int = 100, prompt_chars: int = 0) -> float:
    """Whole lifecycles of `per_save` generations per transaction."""
    started = time.perf_counter()
    batch: list[Generation] = []
    for index in range(generations):
        generation = Generation(
            generation_id=UUID(int=index + 1),
            job_type="generation",
            prompt=prompt_text(index, prompt_chars),
            model="veo_3_1_t2v_fast",
            aspect_ratio="landscape",
            seed=index,
            priority="normal",
            profile_id="default",
            scene_id=str(UUID(int=10**9 + index)),
            batch_id=f"batch-{index // 1000}",
        )
        lifecycle(generation, index)
        batch.append(generation)
        if len(batch) == per_save:
            app.save(*batch)
            batch.clear()
    if batch:
        app.save(*batch)
    return generations * EVENTS_PER_GENERATION / (time.perf_counter() - started)


def rebuild_per_event(app: VeoRelay, db: ReadModelDatabase, limit: int) -> float:
    """Baseline: the same views, one transaction per event."""
    views = [HistoryView(suffix="__baseline"), AnalyticsView(suffix="__baseline")]
    with db.write() as conn:
        for view in views:
            view.drop(conn)
            view.create(conn)
    items, _ = read_events(app, 0, limit)
    started = time.perf_counter()
    for item in items:
        with db.write() as conn:
            for view in views:
                view.process(conn, [item])
    seconds = time.perf_counter() - started
    with db.write() as conn:
        for view in views:
            view.drop(conn)
    return len(items) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events in the store for the rebuild")
    parser.add_argument("--single", type=int, default=2_000, help="saves for the one-event-per-transaction figure")
    parser.add_argument("--baseline", type=int, default=10_000, help="events for the per-event baseline")
    parser.add_argument(
        "--prompt-chars", type=int, default=0, help="prompt length of the batched lifecycles (0: 'prompt N')"
    )
    parser.add_argument("--store", default=None, help="an empty postgresql://... database (default: SQLite files)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        location = locate(Path(tmp), args.store)
        app = location.open_app()
        if app.last_position():
            parser.error(f"{location.description} is not empty")
        db = location.open_read_model()
        single = append_single(app, args.single)
        batched = append_batched(app, args.events // EVENTS_PER_GENERATION, prompt_chars=args.prompt_chars)
        total = app.last_position()
        fast_read, library_read = read_rate(app, total)
        report = rebuild(app, db, [HistoryView, AnalyticsView])
        history_only = rebuild(app, db, [HistoryView])
        baseline = rebuild_per_event(app, db, min(args.baseline, total))
        db.close()
        app.close()
    kind = "PostgreSQL" if location.postgres is not None else "SQLite file (WAL)"
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}")
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    prompts = f"{args.prompt_chars}-character prompts" if args.prompt_chars else "short prompts"
    print(f"store: {kind}, {total:,} events, {prompts}")
    print(f"append, one event per transaction:     {single:>10,.0f} events/s")
    print(f"append, 100 lifecycles per transaction: {batched:>10,.0f} events/s")
    print(f"read+decode, projections' fast reader:  {fast_read:>10,.0f} events/s")
    print(f"read+decode, select_notifications+map:  {library_read:>10,.0f} events/s")
    print(f"rebuild history+analytics (batched):    {report.events_per_second:>10,.0f} events/s")
    print(f"rebuild history only (batched):         {history_only.events_per_second:>10,.0f} events/s")
    print(f"baseline, one transaction per event:    {baseline:>10,.0f} events/s")
    print(f"speed-up over baseline:                 {report.events_per_second / baseline:>10.1f}x")
    verdict = "meets" if report.events_per_second >= 50_000 else "MISSES"
    print(f"target rebuild >= 50,000 events/s:      {verdict}")


if __name__ == "__main__":
    main()
