"""The VeoRelay application: idempotent requests, upscale and retry rules, not-found translation (on SQLite and
PostgreSQL), and two applications sharing one PostgreSQL store as cluster nodes do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from domain.application import VeoRelay
from domain.errors import GenerationNotFound, IllegalTransition, InvalidParameter, RequestKeyConflict
from domain.requests import GenerationSpec
from domain.values import Status
from server.store import locate


@pytest.fixture
def app(tmp_path: Path, store: str | None) -> Iterator[VeoRelay]:
    """The application on a real store of each backend."""
    application = locate(tmp_path, store).open_app()
    yield application
    application.close()


def complete(app: VeoRelay, generation_id: object) -> None:
    assert isinstance(generation_id, type(uuid4()))
    app.record_submitted(generation_id)
    app.record_started(generation_id, "op", "media", "MEDIA_GENERATION_STATUS_PENDING")
    app.record_completed(generation_id, "mg-1", "https://video")


def test_a_repeated_request_key_returns_the_same_generation(app: VeoRelay) -> None:
    """The second request with a key creates (and pays for) nothing."""
    first, created = app.request_generation(GenerationSpec(prompt="fox"), request_key="k-1")
    again, created_again = app.request_generation(GenerationSpec(prompt="fox"), request_key="k-1")
    assert (again, created, created_again) == (first, True, False)
    assert app.last_position() == 1


def test_a_request_key_reused_for_another_prompt_is_a_conflict(app: VeoRelay) -> None:
    """A key names one request; different parameters are refused, naming the difference."""
    app.request_generation(GenerationSpec(prompt="fox"), request_key="k-1")
    with pytest.raises(RequestKeyConflict, match="prompt"):
        app.request_generation(GenerationSpec(prompt="owl"), request_key="k-1")


def test_requests_without_key_are_distinct(app: VeoRelay) -> None:
    """Without a key every request is a new generation."""
    a, _ = app.request_generation(GenerationSpec(prompt="fox"))
    b, _ = app.request_generation(GenerationSpec(prompt="fox"))
    assert a != b


def test_a_batch_is_saved_atomically_and_keyed_per_item(app: VeoRelay) -> None:
    """A keyed batch repeated returns the same ids; its items share the batch id; ids ascend in prompt order
    (the history orders a batch's items, which share a millisecond, by id)."""
    specs = [GenerationSpec(prompt=f"p{i}") for i in range(12)]
    batch_id, ids, created = app.request_batch(specs, request_key="b-1")
    assert ids == sorted(ids)
    assert [app.get_generation(i).prompt for i in ids] == [spec.prompt for spec in specs]
    again = app.request_batch(specs, request_key="b-1")
    assert created is True
    assert again == (batch_id, ids, False)
    assert {app.get_generation(i).batch_id for i in ids} == {str(batch_id)}
    assert app.last_position() == 12


def test_an_empty_batch_is_refused(app: VeoRelay) -> None:
    """A batch needs prompts."""
    with pytest.raises(InvalidParameter, match="prompts"):
        app.request_batch([])


def test_upscale_needs_a_completed_source(app: VeoRelay) -> None:
    """Upscaling an unfinished video is a conflict; a finished one gets the upsampler model."""
    source, _ = app.request_generation(GenerationSpec(prompt="fox"))
    with pytest.raises(IllegalTransition, match="not completed"):
        app.request_upscale(source)
    complete(app, source)
    upscale_id, created = app.request_upscale(source, resolution="4k")
    upscale = app.get_generation(upscale_id)
    assert created is True
    assert upscale.job_type == "upscale"
    assert upscale.model == "veo_3_1_upsampler_4k"
    assert upscale.source_generation_id == str(source)
    assert upscale.source_media_id == "mg-1"
    assert app.request_upscale(source, resolution="4k") == (upscale_id, False)


def test_retry_links_to_the_failed_generation_once(app: VeoRelay) -> None:
    """Retry makes one new generation with the same parameters; repeating it returns that one."""
    failed, _ = app.request_generation(GenerationSpec(prompt="fox", seed=3))
    with pytest.raises(IllegalTransition, match="not failed"):
        app.request_retry(failed)
    app.record_failed(failed, "timeout", "Took too long.")
    retry_id, created = app.request_retry(failed)
    retry = app.get_generation(retry_id)
    assert created is True
    assert (retry.retry_of, retry.prompt, retry.seed, retry.status) == (str(failed), "fox", 3, Status.PENDING)
    assert app.request_retry(failed) == (retry_id, False)


def test_a_cancelled_generation_is_cancelled_and_can_be_retried(app: VeoRelay) -> None:
    """Cancelling records Failed(cancelled) and leaves `cancelled`; a second cancel says so; retry still works."""
    gid, _ = app.request_generation(GenerationSpec(prompt="fox"))
    app.record_cancelled(gid)
    assert (app.get_generation(gid).status, app.get_generation(gid).error_reason) == (Status.CANCELLED, "cancelled")
    with pytest.raises(IllegalTransition, match="is already cancelled"):
        app.record_cancelled(gid)
    retry_id, created = app.request_retry(gid)
    assert created is True
    assert app.get_generation(retry_id).retry_of == str(gid)


def test_unknown_generation_is_not_found(app: VeoRelay) -> None:
    """The library's not-found becomes the domain's own error."""
    with pytest.raises(GenerationNotFound):
        app.get_generation(uuid4())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": "  "}, "prompt"),
        ({"prompt": "x" * 10_001}, "prompt"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "seed": 2**31}, "seed"),
        ({"prompt": "x", "aspect_ratio": "wide"}, "aspect_ratio"),
        ({"prompt": "x", "priority": "asap"}, "priority"),
        ({"prompt": "x", "model": "Veo 3!"}, "model"),
        ({"prompt": "x", "profile_id": ""}, "profile_id"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Every bad input is refused with an error naming the field."""
    with pytest.raises(InvalidParameter) as caught:
        GenerationSpec(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_listeners_hear_each_save_with_its_position(app: VeoRelay) -> None:
    """Projections wake on saves: the listener gets the highest new position."""
    heard: list[int] = []
    app.add_listener(heard.append)
    app.request_generation(GenerationSpec(prompt="fox"))
    app.request_batch([GenerationSpec(prompt="a"), GenerationSpec(prompt="b")])
    assert heard == [1, 3]


def test_a_trailing_newline_does_not_sneak_past_the_model_and_profile_checks() -> None:
    """Whole-string matching: `veo\\n` is not a model key."""
    with pytest.raises(InvalidParameter, match="model"):
        GenerationSpec(prompt="x", model="veo\n")
    with pytest.raises(InvalidParameter, match="profile_id"):
        GenerationSpec(prompt="x", profile_id="default\n")


@pytest.mark.parametrize("backend", ["postgres"])
def test_two_nodes_on_one_store_share_request_keys_and_see_each_others_changes(tmp_path: Path, store: str) -> None:
    """A key used on both nodes makes one generation; a node's cached copy catches up with the other's events."""
    location = locate(tmp_path, store)
    first, second = location.open_app(), location.open_app()
    try:
        gid, created = first.request_generation(GenerationSpec(prompt="fox"), request_key="k-shared")
        assert second.request_generation(GenerationSpec(prompt="fox"), request_key="k-shared") == (gid, False)
        assert second.get_generation(gid).status == Status.PENDING  # now in the second node's cache
        complete(first, gid)
        upscale_id, _ = second.request_upscale(gid)
        assert second.get_generation(upscale_id).source_generation_id == str(gid)
        assert (created, first.last_position(), second.last_position()) == (True, 5, 5)
    finally:
        first.close()
        second.close()
