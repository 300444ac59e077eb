"""The history row's `profile_id` is the account actually used, for pool jobs and for events from before the pool."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.runner import ProjectionRunner


def row_profile(app: VeoRelay, db: ReadModelDatabase, generation_id: object) -> str | None:
    ProjectionRunner(app, db, [HistoryView()]).catch_up()
    row = HistoryView().get(db.reader(), str(generation_id))
    assert row is not None
    return row.profile_id


def test_a_pool_jobs_row_names_the_account_of_its_latest_submission(app: VeoRelay, db: ReadModelDatabase) -> None:
    gid, _ = app.request_generation(GenerationSpec(prompt="a heron", profile_id=None))
    assert row_profile(app, db, gid) is None
    app.record_submitted(gid, "first")
    assert row_profile(app, db, gid) == "first"
    app.record_deferred(gid, "PUBLIC_ERROR_USER_REQUESTS_THROTTLED", "too quickly")
    assert row_profile(app, db, gid) == "first"
    app.record_submitted(gid, "second")
    assert row_profile(app, db, gid) == "second"
    assert app.get_generation(gid).account == "second"


def test_a_pinned_jobs_row_names_its_profile_from_the_start(app: VeoRelay, db: ReadModelDatabase) -> None:
    gid, _ = app.request_generation(GenerationSpec(prompt="a heron", profile_id="main"))
    assert row_profile(app, db, gid) == "main"
    app.record_submitted(gid)
    assert row_profile(app, db, gid) == "main"
    assert app.get_generation(gid).account == "main"


def test_a_submitted_event_recorded_before_accounts_were_pooled_reads_as_its_own_profile(
    app: VeoRelay, db: ReadModelDatabase
) -> None:
    """A stored Submitted without `account` (older relays) decodes with None, and the job stays on its profile."""
    gid, _ = app.request_generation(GenerationSpec(prompt="an old one", profile_id="legacy"))
    generation = app.get_generation(gid)
    generation.submit()
    (stored,) = [app.mapper.to_stored_event(event) for event in generation.collect_events()]
    state = json.loads(stored.state)
    del state["account"]
    old = dataclasses.replace(stored, state=json.dumps(state).encode())
    app.recorder.insert_events([old])
    assert getattr(app.mapper.to_domain_event(old), "account", None) is None
    replayed: Any = None
    for event in app.events.get(gid):  # from the store, past the repository's cache
        replayed = cast("Any", event).mutate(replayed)
    assert (replayed.attempts, replayed.account) == (1, "legacy")
    assert row_profile(app, db, gid) == "legacy"
