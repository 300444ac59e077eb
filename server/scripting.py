"""Scripting the relay in-process: start the whole system and drive it by messages to its actors.

    with Relay.start("runs/today", simulator_times=(1, 3)) as relay:
        stream = relay.deltas()                      # subscribe first: nothing is missed
        job = relay.submit("a red fox in fresh snow")  # Requested, then `enqueue` to the PollerActor
        rows = relay.wait([job], timeout=60)           # the read model's rows once all are terminal

Commands are the websocket handlers' own (`server.command_service`): they record their `Requested` events
through the domain application and hand the jobs to the PollerActor (`PollerSupervisor.enqueue`, `refresh`,
`cancel`: the actor's messages); reads come from the history read model; deltas come from its journal.
Everything is thread-based: no asyncio needed.
See docs/SCRIPTING.md.

Exceptions: the domain's (`domain.errors`): GenerationNotFound for an unknown id, InvalidParameter for a
bad argument (naming it), IllegalTransition for a command that does not fit the job's state
(cancel of a finished job, retry of one that was neither failed nor cancelled), RequestKeyConflict for a reused key;
TimeoutError from `wait`; and StoreLocked (`server.store_lock`, a StoreError) from `start` when another
process (a `veo serve`, another script) owns the SQLite store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Self
from uuid import UUID

import msgspec

from domain.errors import GenerationNotFound, InvalidParameter
from domain.values import TERMINAL_STATUSES, Resolution
from projections.rows import BatchRow, HistoryRow
from server.bootstrap import Settings, System
from server.command_service import REFRESH_WAIT, CommandService, GenerateOptions
from server.scripting_deltas import CommitSignal, DeltaStream, RowDelta
from veo_simulator import SimulatorConfig

__all__ = ["BatchJobs", "DeltaStream", "Relay", "RowDelta"]

logger = logging.getLogger(__name__)

MAX_BATCH_DELAY = 60.0


@dataclass(frozen=True)
class BatchJobs:
    """A batch's id and its generations' ids, in prompt order."""

    batch_id: UUID
    generation_ids: list[UUID]


class Relay:
    """A started System with a scripting API; use `with Relay.start(...) as relay:` (or call `stop()`)."""

    def __init__(self, system: System) -> None:
        """Wrap a started System (see `start` and `from_settings` to build one)."""
        self.system = system
        self.commands = CommandService(system)
        """The commands this API is made of, with their positions (as the websocket handlers use them)."""
        self._signal = CommitSignal()
        system.projections.add_listener(self._signal)

    @classmethod
    def start(
        cls,
        data_dir: str | PathLike[str],
        *,
        simulator_times: tuple[float, float] | None = None,
        profiles: str | PathLike[str] | None = None,
        store: str | None = None,
        rate: float = 10.0,
        deadline: float = 3600.0,
    ) -> Relay:
        """Start everything on `data_dir`: the built-in Flow simulator (jobs take `simulator_times` s) or profiles."""
        simulator = (
            SimulatorConfig()
            if simulator_times is None
            else SimulatorConfig(lo=simulator_times[0], hi=simulator_times[1])
        )
        settings = Settings(
            data_dir=Path(data_dir).expanduser().resolve(),
            store=store,
            profiles=Path(profiles) if profiles is not None else None,
            rate=rate,
            deadline=deadline,
            simulator=simulator,
        )
        return cls.from_settings(settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> Relay:
        """Start a System with `veo serve`'s settings (without its network front)."""
        system = System(settings)
        try:
            system.start()
        except BaseException:
            system.stop()
            raise
        return cls(system)

    def stop(self) -> None:
        """Stop everything (open delta streams end)."""
        self._signal.close()
        self.system.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- commands -----------------------------------------------------------------------------------

    def submit(
        self,
        prompt: str,
        *,
        model: str | None = None,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        priority: str | None = None,
        profile: str | None = None,
        request_key: str | None = None,
        recaptcha_token: str | None = None,
    ) -> UUID:
        """Record one generation and hand it to the PollerActor; its id (a known request key: the same id)."""
        options = GenerateOptions(model, aspect_ratio, seed, priority, profile)
        return self.commands.generate(
            prompt, options, request_key=request_key, recaptcha_token=recaptcha_token
        ).generation_id

    def batch(
        self,
        prompts: Sequence[str],
        *,
        delay: float = 0.5,
        model: str | None = None,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        priority: str | None = None,
        profile: str | None = None,
        request_key: str | None = None,
        recaptcha_token: str | None = None,
    ) -> BatchJobs:
        """Record one generation per prompt (one atomic save), submitted `delay` seconds apart."""
        if not 0 <= delay <= MAX_BATCH_DELAY:
            raise InvalidParameter("delay", f"must be between 0 and {MAX_BATCH_DELAY:.0f} seconds")
        options = GenerateOptions(model, aspect_ratio, seed, priority, profile)
        accepted = self.commands.batch(
            prompts, options, delay_s=delay, request_key=request_key, recaptcha_token=recaptcha_token
        )
        return BatchJobs(accepted.batch_id, accepted.generation_ids)

    def upscale(self, generation_id: UUID, resolution: str = Resolution.P1080, request_key: str | None = None) -> UUID:
        """Upscale a completed generation; the upscale's id."""
        return self.commands.upscale(generation_id, resolution, request_key=request_key).generation_id

    def retry(self, generation_id: UUID) -> UUID:
        """A new generation with a failed or cancelled one's parameters (`retry_of` links them); its id."""
        return self.commands.retry(generation_id).generation_id

    def cancel(self, generation_id: UUID) -> HistoryRow:
        """Stop a job that is not finished (its status becomes `cancelled`); its row afterwards."""
        return self.commands.cancel(generation_id).row

    def refresh(self, generation_id: UUID, timeout: float = REFRESH_WAIT) -> HistoryRow:
        """Check the job on Flow now (top priority, through the budget); its row once recorded or after `timeout`."""
        return self.commands.refresh(generation_id, timeout).row

    # --- reads --------------------------------------------------------------------------------------

    def queue_status(self) -> dict[str, object]:
        """The PollerActor's queue, in-flight calls and budget (the `queue_status` data)."""
        status = self.system.queue_status(self.system.commands.queue_status())
        return status if isinstance(status, dict) else msgspec.to_builtins(status)

    def status(self, generation_id: UUID) -> HistoryRow:
        """A job's row, including every change recorded before the call (GenerationNotFound if unknown)."""
        return self.commands.row(generation_id).row

    def batch_status(self, batch_id: UUID) -> BatchRow | None:
        """A batch's counts by status, or None for an unknown batch."""
        self.commands.settle()
        return self.system.history.batch(self.system.db.reader(), str(batch_id))

    def wait(self, generation_ids: Iterable[UUID], timeout: float | None = None) -> list[HistoryRow]:
        """Block until every job is completed, failed or cancelled; their rows in the order given (TimeoutError)."""
        ids = [str(i) for i in generation_ids]
        deadline = None if timeout is None else time.monotonic() + timeout
        self.commands.settle()
        history = self.system.history
        with self.system.db.read() as conn:
            rows = {row.id: row for row in history.get_many(conn, ids)}
            position = history.position(conn)
        for generation_id in ids:
            if generation_id not in rows:
                raise GenerationNotFound(generation_id)
        stream = self.deltas(after=position)
        while any(row.status not in TERMINAL_STATUSES for row in rows.values()):
            remaining = None if deadline is None else deadline - time.monotonic()
            delta = stream.get(remaining) if remaining is None or remaining > 0 else None
            if delta is None:
                if self._signal.closed:
                    raise RuntimeError("the relay stopped while waiting for jobs")
                waiting = sorted(i for i, r in rows.items() if r.status not in TERMINAL_STATUSES)
                raise TimeoutError(f"{len(waiting)} job(s) still running after {timeout} s: {', '.join(waiting)}")
            if isinstance(delta.row, HistoryRow) and delta.row.id in rows:
                rows[delta.row.id] = delta.row
        return [rows[i] for i in ids]

    def deltas(self, after: int | None = None) -> DeltaStream:
        """Row changes from now on (or after a position, when the journal still has it: check `resumed`)."""
        reader = self.system.db.reader()
        history = self.system.history
        head = history.position(reader)
        if after is None:
            return DeltaStream(history, self.system.db, self._signal, head, resumed=False)
        if after < history.pruned_through(reader) or after > max(head, self.system.app.last_position()):
            return DeltaStream(history, self.system.db, self._signal, head, resumed=False)
        return DeltaStream(history, self.system.db, self._signal, after, resumed=True)
