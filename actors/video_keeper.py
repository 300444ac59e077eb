"""The VideoKeeper: downloads each completed generation's video into the video store and records it.

It runs beside the PollerActor, never inside it: it learns of completions by reading the store's `Completed`
events after its own cursor whenever a save wakes it, and at start takes up the completed rows that have no
stored file. At most `concurrency` downloads run at once (worker threads, httpx streaming straight into the store: files
for SQLite, chunks in the database for PostgreSQL; `actors.video_store`).
A failed download is retried with exponential backoff on the injected clock, a bounded number of times (and,
for failures that may pass, such as a 429, a 5xx or a network error, for as long as an outage of the service
plausibly lasts), and then recorded as `VideoStoreFailed`; a write error such as a full disk is logged and
counted, and the download is tried again later without using up an attempt. The generation stays completed
either way.
`stop` abandons the downloads in progress (a cluster node that loses its lease stops its keeper): what they
wrote is discarded, nothing is recorded, and the next keeper takes them up from the completed rows.

Backends: `fetch` is where a video's bytes are requested; `by_account` gives a generation's account a fetch
of its own when its downloads need a key and the request budget (a Gemini API key: `actors.gemini_downloads`).
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from uuid import UUID

import httpx
from eventsourcing.persistence import PersistenceError

from actors.clock import Clock, monotonic
from actors.video_store import StoredFile, VideoStore
from domain.application import VeoRelay
from domain.errors import DomainError, GenerationNotFound
from domain.generation import Generation
from domain.values import Status, VideoStoreFailure

__all__ = ["COMPLETED_TOPIC", "AccountFetch", "Fetch", "KeeperSettings", "VideoKeeper", "plain_fetch"]

logger = logging.getLogger(__name__)

COMPLETED_TOPIC = f"{Generation.Completed.__module__}:{Generation.Completed.__qualname__}"
_EXPIRED = frozenset({403, 404, 410})
_SCAN_PAGE = 500
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

Fetch = Callable[[str], AbstractContextManager[httpx.Response]]
"""Opens a streamed GET of a video URL (the response is read with `iter_bytes`)."""
AccountFetch = Callable[[str | None], Fetch | None]
"""The fetch of a generation's account, by its name (None: the plain `fetch` serves it)."""


def plain_fetch(http: httpx.Client) -> Fetch:
    """A fetch of plain storage URLs (Flow's signed links): no credentials, outside the request budget."""
    return lambda url: http.stream("GET", url, timeout=_TIMEOUT, follow_redirects=True)


@dataclass(frozen=True)
class KeeperSettings:
    """How hard the keeper tries."""

    attempts: int = 5
    """Downloads tried before the video is given up (write errors do not count)."""
    first_delay: float = 5.0
    """Seconds before the second attempt; each further one waits twice as long, up to `max_delay`."""
    max_delay: float = 300.0
    outage_for: float = 3600.0
    """Seconds from a video's first failed attempt during which failures that may pass (429, 5xx, a network
    error) go on being retried beyond `attempts`: a service down or busy for a while costs no video. An expired
    link or an answer that is not a video is given up after `attempts` as before."""
    write_error_delay: float = 300.0
    """Seconds before trying again after the store could not be written (a full disk)."""
    concurrency: int = 2

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt."""
        return float(min(self.first_delay * 2 ** (failures - 1), self.max_delay))


class _Stopped(Exception):
    """The keeper stopped during a download: it is abandoned, its bytes discarded."""


class _Problem(Exception):
    """A failed download attempt: what to record if it was the last."""

    def __init__(self, reason: VideoStoreFailure, message: str, *, may_pass: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.may_pass = may_pass
        """A failure of the service or the network that a later attempt may not meet (429, 5xx, a broken
        connection), rather than one of the link or its answer."""


@dataclass
class _Job:
    generation_id: UUID
    failures: int = 0
    first_failed_at: float | None = None


class VideoKeeper:
    """Keeps every completed video of one store (start, stop; `wake` is a save listener)."""

    def __init__(
        self,
        app: VeoRelay,
        fetch: Fetch,
        store: VideoStore,
        settings: KeeperSettings | None = None,
        clock: Clock = monotonic,
        *,
        by_account: AccountFetch | None = None,
    ) -> None:
        self.app = app
        self.fetch = fetch
        self.by_account = by_account
        self.store = store
        self.settings = settings or KeeperSettings()
        self.clock = clock
        self.store_errors = 0
        """Downloads that could not be written to the video store (a full disk): for /metrics."""
        self._cursor = 0
        self._due: list[tuple[float, int, _Job]] = []
        self._order = 0
        self._known: set[UUID] = set()
        self._running = 0
        self._changed = threading.Condition()
        self._stopping = False
        self._dirty = False
        self._thread: threading.Thread | None = None
        self._workers = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="video-keeper")

    # --- life -----------------------------------------------------------------------------------------

    def start(self, backlog: Iterable[UUID], after: int) -> None:
        """Keep the videos of `backlog` (completed rows without a file, as of store position `after`) and of
        every completion recorded after `after`."""
        removed = self.store.clear_partials()
        if removed:
            logger.info("removed %d partial video download(s) left by a previous run", removed)
        with self._changed:
            self._cursor = after
            for generation_id in backlog:
                self._add(_Job(generation_id), self.clock())
        self.app.add_listener(self.wake)
        self._thread = threading.Thread(target=self._run, name="video-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop dispatching, abandon the downloads in progress (nothing of theirs is kept or recorded) and wait
        for them to end, and detach from the store."""
        self.app.remove_listener(self.wake)
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._workers.shutdown(wait=True)

    def wake(self, position: int = 0) -> None:
        """Look again now (new events were saved, or a test moved the clock); never blocks the caller."""
        with self._changed:
            self._dirty = True
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` holds (checked whenever the keeper's state changes); False on timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    @property
    def running(self) -> int:
        """Downloads in progress."""
        return self._running

    @property
    def stopping(self) -> bool:
        """True once `stop` was called: downloads still running are being abandoned."""
        return self._stopping

    @property
    def waiting(self) -> dict[UUID, float]:
        """Videos waiting for their next attempt, with the clock reading it is due at."""
        with self._changed:
            return {job.generation_id: due for due, _, job in self._due}

    # --- dispatch -------------------------------------------------------------------------------------

    def _add(self, job: _Job, due: float) -> None:
        self._known.add(job.generation_id)
        self._order += 1
        heapq.heappush(self._due, (due, self._order, job))

    def _run(self) -> None:
        while True:
            with self._changed:
                self._dirty = False  # a save from here on makes the wait below return at once
            self._scan()
            with self._changed:
                if self._stopping:
                    return
                now = self.clock()
                while self._due and self._due[0][0] <= now and self._running < self.settings.concurrency:
                    _, _, job = heapq.heappop(self._due)
                    self._running += 1
                    self._workers.submit(self._attempt, job)
                timeout = None
                if self._due and self._running < self.settings.concurrency:
                    timeout = max(self._due[0][0] - now, 0.0)
                if not self._dirty:
                    self._changed.wait(timeout)

    def _scan(self) -> None:
        """Take up the completions recorded after the cursor."""
        try:
            head = self.app.last_position()
            found: list[UUID] = []
            while self._cursor < head:
                page = self.app.recorder.select_notifications(
                    start=self._cursor + 1, limit=_SCAN_PAGE, stop=head, topics=[COMPLETED_TOPIC]
                )
                found += [UUID(str(n.originator_id)) for n in page]
                self._cursor = head if len(page) < _SCAN_PAGE else page[-1].id
        except PersistenceError:
            logger.exception("could not read new completions from the store; trying again at the next save")
            return
        with self._changed:
            for generation_id in found:
                if generation_id not in self._known:
                    self._add(_Job(generation_id), self.clock())

    # --- one attempt (a worker thread) ----------------------------------------------------------------

    def _attempt(self, job: _Job) -> None:
        again: float | None = None
        try:
            again = self._keep(job)
        except Exception:
            logger.exception("keeping the video of %s failed unexpectedly", job.generation_id)
            again = self.settings.write_error_delay
        finally:
            with self._changed:
                self._running -= 1
                if again is None or self._stopping:
                    self._known.discard(job.generation_id)
                else:
                    self._add(job, self.clock() + again)
                self._changed.notify_all()

    def _keep(self, job: _Job) -> float | None:
        """Try once; the seconds until the next try, or None when the video is settled (stored or given up)."""
        try:
            generation = self.app.get_generation(job.generation_id)
        except GenerationNotFound:
            return None
        if generation.status != Status.COMPLETED or generation.video_settled or not generation.video_url:
            return None
        fetch = (self.by_account(generation.account) if self.by_account is not None else None) or self.fetch
        try:
            stored = self._download(generation.video_url, fetch)
        except _Stopped:
            logger.info("the video of %s is left to the next keeper (this one stopped)", job.generation_id)
            return None
        except OSError as exc:
            self.store_errors += 1
            logger.error(
                "cannot write the video of %s to %s: %s; the generation stays completed, trying again in %.0f s",
                job.generation_id,
                self.store.description,
                exc.strerror or exc,
                self.settings.write_error_delay,
            )
            return self.settings.write_error_delay
        except _Problem as problem:
            job.failures += 1
            now = self.clock()
            if job.first_failed_at is None:
                job.first_failed_at = now
            outage = problem.may_pass and now - job.first_failed_at < self.settings.outage_for
            if job.failures < self.settings.attempts or outage:
                delay = self.settings.delay(job.failures)
                logger.info(
                    "video of %s: %s; attempt %d in %.0f s", job.generation_id, problem, job.failures + 1, delay
                )
                return delay
            message = f"{problem.message} ({job.failures} attempts); the generation stays completed."
            logger.warning("giving up the video of %s: %s", job.generation_id, message)
            reason = problem.reason
            return self._record(lambda: self.app.record_video_store_failed(job.generation_id, reason, message))
        content_type = stored[1]
        return self._record(
            lambda: self.app.record_video_stored(job.generation_id, stored[0].sha256, stored[0].size, content_type)
        )

    def _record(self, save: Callable[[], None]) -> float | None:
        try:
            save()
        except DomainError as exc:  # settled meanwhile (another keeper of a shared store): nothing to do
            logger.info("video already settled: %s", exc)
        except PersistenceError as exc:
            self.store_errors += 1
            logger.error("cannot record the kept video in the store (%s); trying again later", exc)
            return self.settings.write_error_delay
        return None

    def _download(self, url: str, fetch: Fetch) -> tuple[StoredFile, str]:
        """Stream the video into the store: (file, content type); _Problem for a bad answer, OSError for disk."""
        try:
            with fetch(url) as response:
                if response.status_code in _EXPIRED:
                    raise _Problem(
                        VideoStoreFailure.EXPIRED,
                        f"the video URL answered {response.status_code} (the link has expired: Flow's signed "
                        "links last hours, the Gemini API keeps files 2 days)",
                    )
                if response.status_code != 200:
                    status = response.status_code
                    may_pass = status == 429 or status >= 500
                    raise _Problem(
                        VideoStoreFailure.DOWNLOAD_FAILED, f"the video URL answered {status}", may_pass=may_pass
                    )
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if not content_type.startswith("video/"):
                    raise _Problem(
                        VideoStoreFailure.NOT_A_VIDEO, f"the video URL answered {content_type or 'no'} content type"
                    )
                with self.store.partial() as partial:
                    for chunk in response.iter_bytes():
                        if self._stopping:
                            raise _Stopped
                        partial.write(chunk)
                    if partial.size == 0:
                        raise _Problem(VideoStoreFailure.NOT_A_VIDEO, "the video URL answered an empty body")
                    return partial.commit(), content_type
        except httpx.HTTPError as exc:
            message = f"the download failed ({type(exc).__name__})"
            raise _Problem(VideoStoreFailure.DOWNLOAD_FAILED, message, may_pass=True) from exc
