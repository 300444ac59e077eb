"""The history row's and the analytics row's `model` is the model the backend was asked for (CONTRACT §2: the row
is what happened): a Gemini profile's own model id rather than the request's Flow key, and the request's model for
events recorded before the submission kept it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, cast

from domain.application import VeoRelay
from domain.requests import GenerationSpec
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.runner import ProjectionRunner

FLOW_KEY = "veo_3_1_t2v_fast"
GEMINI_MODEL = "veo-3.1-fast-generate-preview"


def row_model(app: VeoRelay, db: ReadModelDatabase, generation_id: object) -> str:
    ProjectionRunner(app, db, [HistoryView(), AnalyticsView()]).catch_up()
    row = HistoryView().get(db.reader(), str(generation_id))
    assert row is not None
    return row.model


def test_the_row_names_the_model_of_the_latest_submission(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A pool job refused on a Gemini profile and then sent to a Flow account ends with the Flow model."""
    gid, _ = app.request_generation(GenerationSpec(prompt="a heron", profile_id=None, model=FLOW_KEY))
    assert row_model(app, db, gid) == FLOW_KEY
    app.record_submitted(gid, "gem", GEMINI_MODEL)
    assert row_model(app, db, gid) == GEMINI_MODEL
    app.record_deferred(gid, "RESOURCE_EXHAUSTED", "quota")
    app.record_submitted(gid, "flow", FLOW_KEY)
    assert row_model(app, db, gid) == FLOW_KEY
    assert app.get_generation(gid).model == FLOW_KEY  # the request keeps what it asked for (a retry asks it again)


def test_completion_times_are_learned_under_the_model_used(app: VeoRelay, db: ReadModelDatabase) -> None:
    gid, _ = app.request_generation(GenerationSpec(prompt="a heron", profile_id="gem", model=FLOW_KEY))
    app.record_submitted(gid, "gem", GEMINI_MODEL)
    app.record_started(gid, f"models/{GEMINI_MODEL}/operations/abc", None, None)
    app.record_completed(gid, None, "https://video")
    assert row_model(app, db, gid) == GEMINI_MODEL
    assert set(AnalyticsView().recent_durations(db.reader())) == {(GEMINI_MODEL, "generation")}


def test_a_submitted_event_without_a_model_leaves_the_requests_model(app: VeoRelay, db: ReadModelDatabase) -> None:
    """A stored Submitted without `model` (older relays) decodes with None and the row keeps the request's."""
    gid, _ = app.request_generation(GenerationSpec(prompt="an old one", profile_id="legacy", model=FLOW_KEY))
    generation = app.get_generation(gid)
    generation.submit(None, GEMINI_MODEL)
    (stored,) = [app.mapper.to_stored_event(event) for event in generation.collect_events()]
    state = json.loads(stored.state)
    del state["model"]
    app.recorder.insert_events([dataclasses.replace(stored, state=json.dumps(state).encode())])
    replayed: Any = None
    for event in app.events.get(gid):  # from the store, past the repository's cache
        replayed = cast("Any", event).mutate(replayed)
    assert (replayed.attempts, getattr(event, "model", "absent")) == (1, None)
    assert row_model(app, db, gid) == FLOW_KEY
