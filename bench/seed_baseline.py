"""The seed's polling worker (reference/seed-polling-architecture.md), rebuilt as a plain loop for comparison.

Every 1-s cycle (counted from the previous cycle's start, like Node's `setInterval`) it takes up to 10
jobs whose backoff has expired, least recently checked first, and sends ONE status-check request per job
(one operation per request, legacy `operations` contract: the URL comes with the answer) on a pool of 10
threads through the real FlowClient. A job found finished is recorded at once (`Completed` or `Failed`,
like the seed's DB update); one still running (or whose check failed, e.g. a 429) waits 1 s, then 1.5 s,
2.25 s ... up to 60 s before its next check.

The seed sends a cycle's requests at once, exactly R per second, so against a strict sliding 1-s window
(the simulator's, which counts refused arrivals too) cycles overlap by a few milliseconds and many answers
are 429s. `paced=True` keeps the seed's policy (which jobs, one per request, the backoff) but spends the
budget like ours: cycles of 1.05 s, their requests 0.105 s apart (R with our Budget's 5% margin).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from uuid import UUID

from actors.clock import Clock
from actors.flow import FlowClient, FlowError, StatusContract, StatusHandle
from actors.profiles import Profile
from domain.application import VeoRelay

__all__ = ["SeedJob", "SeedWorker"]

logger = logging.getLogger(__name__)

PACED_MARGIN = 0.05
"""The paced variant's margin: the same as our Budget's."""


@dataclass(slots=True)
class SeedJob:
    """One job in the seed's polling queue."""

    generation_id: UUID
    handle: StatusHandle
    last_checked: float = -math.inf
    backoff: float = 0.0
    checking: bool = False
    done: bool = False


class SeedWorker:
    """Polls jobs the seed's way until each is terminal (or the run times out)."""

    def __init__(
        self,
        app: VeoRelay,
        client: FlowClient,
        profile: Profile,
        jobs: list[SeedJob],
        *,
        contract: StatusContract = "operations",
        interval: float = 1.0,
        per_cycle: int = 10,
        backoff_base: float = 1.0,
        backoff_factor: float = 1.5,
        backoff_max: float = 60.0,
        paced: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        self.app = app
        self.client = client
        self.profile = profile
        self.jobs = jobs
        self.contract: StatusContract = contract
        self.interval = interval
        self.per_cycle = per_cycle
        self.backoff_base = backoff_base
        self.backoff_factor = backoff_factor
        self.backoff_max = backoff_max
        self.paced = paced
        self.clock = clock
        self.errors = 0
        self._lock = threading.Lock()
        self._record = threading.Lock()  # one writer at a time, like the seed's single worker thread
        self._stop = threading.Event()

    def run(self, timeout: float) -> bool:
        """Poll until every job is terminal (True) or `timeout` seconds pass (False)."""
        started = self.clock()
        next_cycle = started
        period = self.interval * (1.0 + PACED_MARGIN) if self.paced else self.interval
        gap = period / self.per_cycle
        with ThreadPoolExecutor(max_workers=self.per_cycle, thread_name_prefix="seed-check") as pool:
            while not self._all_done():
                now = self.clock()
                if now - started > timeout:
                    self._stop.set()
                    return False
                if now < next_cycle:
                    self._stop.wait(next_cycle - now)
                    continue
                for index, job in enumerate(self._ready(now)):
                    if self.paced:
                        self._stop.wait(max(0.0, now + index * gap - self.clock()))
                    pool.submit(self._check, job)
                next_cycle = now + period  # like Node's setInterval: the next cycle counts from this one
        return True

    def _all_done(self) -> bool:
        with self._lock:
            return all(job.done for job in self.jobs)

    def _ready(self, now: float) -> list[SeedJob]:
        """Up to `per_cycle` jobs whose backoff expired, least recently checked first; marked as checking."""
        with self._lock:
            ready = [
                job for job in self.jobs if not job.done and not job.checking and now - job.last_checked >= job.backoff
            ]
            ready.sort(key=lambda job: job.last_checked)
            picked = ready[: self.per_cycle]
            for job in picked:
                job.checking = True
                job.last_checked = now
        return picked

    def _check(self, job: SeedJob) -> None:
        try:
            finished = self._poll(job)
        except FlowError as exc:
            logger.info("seed check of %s failed: %s", job.generation_id, exc.reason)
            finished = False
            with self._lock:
                self.errors += 1
        except Exception:
            logger.exception("seed check of %s failed", job.generation_id)
            finished = False
            with self._lock:
                self.errors += 1
        with self._lock:
            job.checking = False
            if finished:
                job.done = True
            else:
                growing = job.backoff * self.backoff_factor
                job.backoff = self.backoff_base if job.backoff == 0.0 else min(self.backoff_max, growing)

    def _poll(self, job: SeedJob) -> bool:
        """One status check of one job; records the outcome when terminal. True when terminal."""
        if self._stop.is_set():
            return False
        answers = self.client.check_status(self.profile, [job.handle], self.contract)
        remote = answers[0] if answers else None
        if remote is None or not remote.terminal:
            return False
        if remote.successful:
            url = remote.video_url or self.client.resolve_video_url(self.profile, job.handle.name_for("media"))
            status = remote.status or "MEDIA_GENERATION_STATUS_SUCCESSFUL"
            with self._record:
                self.app.record_completed(job.generation_id, remote.media_generation_id, url, status)
        else:
            reason = remote.error_reason or remote.status or "MEDIA_GENERATION_STATUS_FAILED"
            with self._record:
                self.app.record_failed(job.generation_id, reason, remote.error_message or "failed", remote.status)
        return True
