"""The command service on a real SQLite store and read model, with a hand-written sink in place of the poller:
what each command records, what it hands to the poller, and the domain errors it answers with."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from domain.application import VeoRelay
from domain.errors import GenerationNotFound, IllegalTransition, InvalidParameter
from domain.values import ErrorReason
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.runner import ProjectionRunner
from server.command_service import CommandService, GenerateOptions
from server.store import locate

ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"


@dataclass
class RecordingSink:
    """Stands in for the PollerSupervisor: records what it is handed; cancels and checks as a test says."""

    app: VeoRelay
    profiles: dict[str, object] = field(default_factory=lambda: {"default": object(), "second": object()})
    enqueued: list[tuple[list[UUID], str | None, float | None]] = field(default_factory=list)
    checks: list[UUID] = field(default_factory=list)
    cancels: list[UUID] = field(default_factory=list)
    cancel_answer: bool = True
    checks_find: str | None = None
    """The remote status a status check records (None: checks are never answered)."""

    def enqueue(self, generation_ids: Sequence[UUID], token: str | None = None, delay_s: float | None = None) -> None:
        self.enqueued.append((list(generation_ids), token, delay_s))

    def refresh(self, generation_id: UUID) -> Future[None]:
        """Records what the check found, as the PollerActor does, before the future is done."""
        self.checks.append(generation_id)
        done: Future[None] = Future()
        if self.checks_find is not None:
            self.app.record_progress(generation_id, self.checks_find)
            done.set_result(None)
        return done

    def cancel(self, generation_id: UUID) -> bool:
        """Records `Failed(cancelled)` as the PollerActor does, unless told Flow finished first."""
        self.cancels.append(generation_id)
        if self.cancel_answer:
            self.app.record_cancelled(generation_id)
        return self.cancel_answer


@dataclass
class Parts:
    app: VeoRelay
    db: ReadModelDatabase
    history: HistoryView
    projections: ProjectionRunner
    commands: RecordingSink


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    location = locate(tmp_path, None)
    app, db, history = location.open_app(), location.open_read_model(), HistoryView()
    projections = ProjectionRunner(app, db, [history])
    projections.start()
    try:
        yield Parts(app, db, history, projections, RecordingSink(app))
    finally:
        projections.stop()
        db.close()
        app.close()


@pytest.fixture
def service(parts: Parts) -> CommandService:
    return CommandService(parts)


def failed(parts: Parts, service: CommandService) -> UUID:
    generation_id = service.generate("a storm", GenerateOptions()).generation_id
    parts.app.record_failed(generation_id, "PUBLIC_ERROR_UNSAFE_GENERATION", "Flow refused it.")
    return generation_id


def completed(parts: Parts, service: CommandService, options: GenerateOptions | None = None) -> UUID:
    generation_id = service.generate("a meadow", options or GenerateOptions()).generation_id
    parts.app.record_submitted(generation_id, "second")  # as the poller does: on the account it chose
    parts.app.record_started(generation_id, "operations/1", None, ACTIVE)
    parts.app.record_completed(generation_id, "media-1", "https://example.test/v.mp4")
    return generation_id


def test_generate_answers_with_a_row_the_read_model_already_has_and_hands_the_job_over(
    parts: Parts, service: CommandService
) -> None:
    """Read-your-writes: the returned position is applied; the sink gets the id with the request's token."""
    accepted = service.generate("a fox", GenerateOptions(seed=7, priority="high"), recaptcha_token="tok")
    assert accepted.created
    with parts.db.read() as conn:
        row = parts.history.get(conn, str(accepted.generation_id))
        assert parts.history.position(conn) >= accepted.position
    assert row is not None
    assert (row.prompt, row.seed, row.priority, row.model, row.aspect_ratio) == (
        "a fox",
        7,
        "high",
        "veo_3_1_t2v_fast",
        "landscape",
    )
    assert parts.commands.enqueued == [([accepted.generation_id], "tok", None)]


def test_a_known_request_key_names_the_same_job_and_hands_nothing_over_again(
    parts: Parts, service: CommandService
) -> None:
    first = service.generate("a heron", GenerateOptions(), request_key="heron")
    again = service.generate("a heron", GenerateOptions(), request_key="heron")
    assert (again.generation_id, again.created) == (first.generation_id, False)
    assert len(parts.commands.enqueued) == 1


def test_an_unknown_profile_is_refused_naming_the_known_ones_and_nothing_is_recorded(
    parts: Parts, service: CommandService
) -> None:
    with pytest.raises(InvalidParameter, match=r"unknown profile 'nobody' \(known: default, second\)") as caught:
        service.generate("a fox", GenerateOptions(profile_id="nobody"))
    assert caught.value.field == "profile_id"
    with pytest.raises(InvalidParameter):
        service.batch(["one", "two"], GenerateOptions(profile_id="nobody"), delay_s=0.5)
    assert parts.app.last_position() == 0
    assert parts.commands.enqueued == []


@dataclass
class OutOfPool:
    pool: bool = False


def test_a_request_without_a_profile_goes_to_the_pool_and_its_row_waits_for_the_account(
    parts: Parts, service: CommandService
) -> None:
    accepted = service.generate("a fox", GenerateOptions())
    row = service.row(accepted.generation_id).row
    assert row.profile_id is None
    assert parts.app.get_generation(accepted.generation_id).profile_id is None


def test_a_request_without_a_profile_is_refused_when_no_profile_is_in_the_pool(
    parts: Parts, service: CommandService
) -> None:
    parts.commands.profiles = {"solo": OutOfPool()}
    with pytest.raises(InvalidParameter, match=r"no profile takes requests without a profile_id.*\(known: solo\)"):
        service.batch(["one", "two"], GenerateOptions(), delay_s=0.5)
    assert parts.app.last_position() == 0
    assert service.generate("a fox", GenerateOptions(profile_id="solo")).created


def test_a_batch_hands_over_every_item_in_prompt_order_with_its_spacing(parts: Parts, service: CommandService) -> None:
    accepted = service.batch(["one", "two", "three"], GenerateOptions(profile_id="second"), delay_s=0.25)
    assert parts.commands.enqueued == [(accepted.generation_ids, None, 0.25)]
    rows = [service.row(i).row for i in accepted.generation_ids]
    assert [(r.prompt, r.profile_id, r.batch_id) for r in rows] == [
        (p, "second", str(accepted.batch_id)) for p in ("one", "two", "three")
    ]


def test_an_upscale_needs_a_completed_source_and_defaults_to_1080p(parts: Parts, service: CommandService) -> None:
    unfinished = service.generate("a kite", GenerateOptions()).generation_id
    with pytest.raises(IllegalTransition):
        service.upscale(unfinished)
    source = completed(parts, service)
    accepted = service.upscale(source, recaptcha_token="tok")
    row = service.row(accepted.generation_id).row
    assert (row.job_type, row.source_generation_id) == ("upscale", str(source))
    assert "1080p" in row.model
    assert row.profile_id == "second"  # the source's account
    assert parts.commands.enqueued[-1] == ([accepted.generation_id], "tok", None)


def test_retry_of_a_failed_job_is_one_new_job_however_often_it_is_asked(parts: Parts, service: CommandService) -> None:
    failed_id = failed(parts, service)
    first, again = service.retry(failed_id), service.retry(failed_id)
    assert (first.created, again.created, again.generation_id) == (True, False, first.generation_id)
    assert service.row(first.generation_id).row.retry_of == str(failed_id)
    assert parts.commands.enqueued[-1] == ([first.generation_id], None, None)
    assert len(parts.commands.enqueued) == 2  # the failed job, then its retry once


def test_retry_of_a_job_that_did_not_fail_is_refused(service: CommandService) -> None:
    running = service.generate("a kite", GenerateOptions()).generation_id
    with pytest.raises(IllegalTransition, match="not failed"):
        service.retry(running)


def test_cancel_answers_with_the_cancelled_row(parts: Parts, service: CommandService) -> None:
    generation_id = service.generate("a kite", GenerateOptions()).generation_id
    row, position = service.cancel(generation_id)
    assert (row.status, row.error_reason) == ("cancelled", ErrorReason.CANCELLED)
    assert position >= 1
    assert parts.commands.cancels == [generation_id]


def test_cancel_of_a_finished_job_is_refused_without_asking_the_poller(parts: Parts, service: CommandService) -> None:
    failed_id = failed(parts, service)
    with pytest.raises(IllegalTransition, match=f"cannot cancel generation {failed_id}: it is already failed"):
        service.cancel(failed_id)
    assert parts.commands.cancels == []


def test_a_second_cancel_says_the_job_is_already_cancelled(parts: Parts, service: CommandService) -> None:
    generation_id = service.generate("a kite", GenerateOptions()).generation_id
    service.cancel(generation_id)
    with pytest.raises(IllegalTransition, match=f"cannot cancel generation {generation_id}: it is already cancelled"):
        service.cancel(generation_id)
    assert parts.commands.cancels == [generation_id]


def test_cancel_of_a_job_its_service_finished_first_is_refused_without_naming_flow(
    parts: Parts, service: CommandService
) -> None:
    generation_id = service.generate("a kite", GenerateOptions()).generation_id
    parts.commands.cancel_answer = False
    with pytest.raises(IllegalTransition, match="it finished before the cancel arrived"):
        service.cancel(generation_id)


def test_refresh_answers_with_the_row_its_check_recorded(parts: Parts, service: CommandService) -> None:
    generation_id = service.generate("a kite", GenerateOptions()).generation_id
    parts.app.record_submitted(generation_id, "default")  # as the poller does: on the account it chose
    parts.app.record_started(generation_id, "operations/1", None, "MEDIA_GENERATION_STATUS_PENDING")
    parts.commands.checks_find = ACTIVE
    row, _ = service.refresh(generation_id)
    assert (row.status, row.remote_status) == ("processing", ACTIVE)
    assert parts.commands.checks == [generation_id]


def test_refresh_not_answered_in_time_gives_the_current_row(parts: Parts, service: CommandService) -> None:
    generation_id = service.generate("a kite", GenerateOptions()).generation_id
    assert service.refresh(generation_id, timeout=0).row.status == "pending"
    assert len(parts.commands.checks) == 1


def test_refresh_of_a_finished_job_asks_nothing_of_the_poller(parts: Parts, service: CommandService) -> None:
    failed_id = failed(parts, service)
    assert service.check_now(failed_id).done()
    assert service.refresh(failed_id).row.status == "failed"
    assert parts.commands.checks == []


@pytest.mark.parametrize("command", ["cancel", "refresh", "retry", "upscale", "row"])
def test_commands_on_an_unknown_id_are_not_found(parts: Parts, service: CommandService, command: str) -> None:
    unknown = uuid4()
    with pytest.raises(GenerationNotFound, match=str(unknown)):
        getattr(service, command)(unknown)
    assert parts.commands.enqueued == parts.commands.checks == parts.commands.cancels == []
