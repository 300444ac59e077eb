"""The composition root: builds the whole system (store, projections, poller, simulator) from Settings."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import httpx
import msgspec

from actors.flow import DEFAULT_FLOW_URL, DEFAULT_LABS_URL, FlowClient
from actors.gemini import GeminiClient
from actors.gemini_downloads import gemini_fetches
from actors.poller import PollerSettings
from actors.profiles import Profile, load_profiles
from actors.queue_status import QueueStatus
from actors.restore import Unfinished
from actors.supervisor import PollerSupervisor
from actors.video_files import VIDEOS_DIR, VideoFiles
from actors.video_keeper import VideoKeeper, plain_fetch
from actors.video_store import VideoStore
from domain.application import VeoRelay
from domain.errors import GenerationNotFound
from projections.analytics import AnalyticsView
from projections.database import ReadModelDatabase
from projections.history import HistoryView
from projections.runner import ProjectionRunner
from server.store import StoreLocation, locate
from server.store_lock import StoreLock, claim
from server.video_route import StoredVideo
from veo_protocol.local_server import write_private
from veo_simulator import Simulator, SimulatorConfig

if TYPE_CHECKING:
    from projections.postgres import StoreListener
    from server.cluster import ClusterNode
    from server.forwarding import PollerHandle

__all__ = ["SIMULATOR_PROFILE", "Settings", "System"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
SIMULATOR_PROFILE = "default"
SIMULATOR_STATE = "simulator-state.json"
SIMULATOR_PORT = "simulator.json"
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
SHARED_FALLBACK_POLL = 30.0
CLUSTER_DECISION_TIMEOUT = 30.0
"""How long start-up waits to learn whether this node leads (a takeover waits out its predecessor's grace)."""
"""On PostgreSQL the runner is woken by the store's notifications (every node's writes); this is a safety net."""


@dataclass(frozen=True)
class Settings:
    """Everything `veo serve` is configured with (CONTRACT §5)."""

    data_dir: Path
    store: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    profiles: Path | None = None
    flow_url: str | None = None
    labs_url: str | None = None
    rate: float = 10.0
    check_batch: int = 10
    deadline: float = 3600.0
    lost_after: float = 600.0
    credits_every: float = 300.0
    """Seconds between two reads of an account's credits while work waits (0: read none)."""
    allow_origins: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    """Extra names the HTTP front answers to (`server.host_check`)."""
    client_sessions: bool = False
    """True: the client token may `provide_session` too (by default only the provider token may)."""
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    run_poller: bool = True
    """False (PostgreSQL only): never lead the cluster, so never call Flow; commands go to the leader."""
    gemini_first_check: float = 10.0
    """Seconds after Started before a Gemini API job's first status check (PollerSettings.gemini_first_check_s)."""
    keep_videos: bool = True
    """Download every completed video (the VideoKeeper) into `data_dir/videos`, or on PostgreSQL into the shared
    database (on the node that leads the cluster), and serve it at /videos/ID (on every node)."""

    def poller_settings(self) -> PollerSettings:
        """The poller's tunables."""
        return PollerSettings(
            rate=self.rate,
            check_batch=self.check_batch,
            deadline_s=self.deadline,
            lost_after_s=self.lost_after,
            credits_every_s=self.credits_every,
            gemini_first_check_s=self.gemini_first_check,
        )


class System:
    """The running service without its network front: store, read models, poller, optional simulator."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.location: StoreLocation = locate(settings.data_dir, settings.store)
        self.warnings: list[str] = []
        self.simulator: Simulator | None = None
        self._app: VeoRelay | None = None
        self._db: ReadModelDatabase | None = None
        self._listener: StoreListener | None = None
        self._projections: ProjectionRunner | None = None
        self._poller: PollerSupervisor | None = None
        self._cluster: ClusterNode | None = None
        self._http: httpx.Client | None = None
        self._video_http: httpx.Client | None = None
        self._keeper: VideoKeeper | None = None
        self._past_store_errors = 0
        self._videos: VideoStore | None = None
        self._store_lock: StoreLock | None = None
        self.history = HistoryView()
        self.analytics = AnalyticsView()

    @property
    def app(self) -> VeoRelay:
        """The event-sourced application."""
        return _started(self._app)

    @property
    def db(self) -> ReadModelDatabase:
        """The read-model database."""
        return _started(self._db)

    @property
    def projections(self) -> ProjectionRunner:
        """The projection runner."""
        return _started(self._projections)

    @property
    def poller(self) -> PollerSupervisor:
        """This node's PollerActor supervisor (in a cluster only the leader has one: NotLeading elsewhere)."""
        if self._cluster is not None:
            return self._cluster.supervisor
        return _started(self._poller)

    @property
    def commands(self) -> PollerHandle:
        """Where commands for the poller go: the local supervisor, or (on a node that does not lead a
        cluster) the store, for the leader to run."""
        if self._cluster is not None:
            return self._cluster.handle
        return _started(self._poller)

    def queue_status(self, status: QueueStatus | dict[str, object]) -> QueueStatus | dict[str, object]:
        """A `queue_status` (this node's poller's, or the leader's as a follower reads it) with what this node
        adds: whether it keeps finished videos (`keep_videos`), so a client knows whether to wait for the copy."""
        keep = self.settings.keep_videos
        if isinstance(status, dict):
            return {**status, "keep_videos": keep}
        return msgspec.structs.replace(status, keep_videos=keep)

    @property
    def videos(self) -> VideoStore:
        """The kept videos' store: files under the data directory (SQLite), chunks in the database (PostgreSQL)."""
        return _started(self._videos)

    def read_video(self, sha256: str, first: int, length: int) -> bytes:
        """Bytes of a kept video (blocking; OSError when they cannot be read)."""
        return self.videos.read(sha256, first, length)

    def stored_video(self, generation_id: str) -> StoredVideo | None:
        """The kept video of a generation (blocking: reads the event store), or None when the id is unknown,
        malformed, or its video is not stored (yet, or its file or chunks are gone)."""
        try:
            generation = self.app.get_generation(UUID(generation_id))
        except (ValueError, GenerationNotFound):
            return None
        if generation.video_sha256 is None or generation.video_bytes is None:
            return None
        if not self.videos.has(generation.video_sha256, generation.video_bytes):
            logger.warning(
                "the kept video %s of %s is missing from %s",
                generation.video_sha256,
                generation_id,
                self.videos.description,
            )
            return None
        return StoredVideo(
            generation.video_sha256, generation.video_bytes, generation.video_content_type or "video/mp4"
        )

    @property
    def video_store_errors(self) -> int:
        """Downloads the VideoKeeper could not write to the video store (a full disk): for /metrics (every keeper
        this node ran, in a cluster one per term as leader)."""
        keeper = self._keeper
        return self._past_store_errors + (keeper.store_errors if keeper is not None else 0)

    @property
    def cluster(self) -> ClusterNode | None:
        """This node's part in a cluster (PostgreSQL stores only)."""
        return self._cluster

    def claim_store(self) -> None:
        """Become the one process that owns a SQLite store, before anything is written (StoreLocked if another
        does; `server.store_lock`); a no-op once claimed, and for PostgreSQL, whose nodes share the store."""
        if self._store_lock is None:
            self._store_lock = claim(self.location)

    def announce(self, url: str) -> None:
        """Record where this relay listens in its store's lock, for the message that refuses a second one."""
        if self._store_lock is not None:
            self._store_lock.announce(url)

    def start(self) -> None:
        """Claim the store, open it, catch the read models up, start the simulator if no profiles, the poller."""
        self.claim_store()
        self._app = app = self.location.open_app()
        self._db = db = self.location.open_read_model()
        shared = self.location.postgres is not None
        self._projections = projections = ProjectionRunner(
            app, db, [self.history, self.analytics], fallback_poll=SHARED_FALLBACK_POLL if shared else 1.0
        )
        projections.catch_up()
        projections.start()
        postgres = self.location.postgres
        if postgres is not None:
            from server.video_chunks import VideoChunks  # noqa: PLC0415 - imports psycopg

            self._listener = follow_store(postgres.conninfo(), app, projections.wake)
            self._videos = VideoChunks.open(postgres.conninfo(), lambda: db.reader().raw, postgres.description)
            self._cluster = self._join_cluster(postgres.conninfo())
            return
        self._videos = VideoFiles(self.settings.data_dir / VIDEOS_DIR)
        self._poller = self._make_supervisor()
        self._poller.start()
        if self.settings.keep_videos:
            self._keeper = self._start_keeper(self._poller)

    def _start_keeper(self, poller: PollerSupervisor) -> VideoKeeper:
        """The VideoKeeper beside `poller`, with every completed row that has no stored video yet as its backlog."""
        after = self.app.last_position()
        self.projections.wait_for(after, timeout=30.0)
        backlog = [UUID(row.id) for row in self.history.videos_to_keep(self.db.reader())]
        if self._video_http is None:
            self._video_http = httpx.Client(timeout=HTTP_TIMEOUT)
        by_account = gemini_fetches(GeminiClient(self._video_http), poller.profiles, poller.reserve_call)
        keeper = VideoKeeper(self.app, plain_fetch(self._video_http), self.videos, by_account=by_account)
        keeper.start(backlog, after=after)
        if backlog:
            logger.info("keeping %d completed video(s) not stored yet", len(backlog))
        return keeper

    def _keep_while_leading(self, poller: PollerSupervisor) -> Callable[[], None]:
        """Start the keeper beside a cluster leader's new poller; the returned call stops it (lease lost)."""
        keeper = self._keeper = self._start_keeper(poller)

        def stop() -> None:
            self._keeper = None
            keeper.stop()
            self._past_store_errors += keeper.store_errors

        return stop

    def _make_supervisor(self, gate: Callable[[], None] | None = None) -> PollerSupervisor:
        """A PollerSupervisor on the configured Flow (the built-in simulator when none is named)."""
        profiles, flow_url, labs_url = self._flow_target()
        if self._http is None:
            self._http = httpx.Client(timeout=HTTP_TIMEOUT, limits=httpx.Limits(max_connections=20))
        return PollerSupervisor(
            self.app,
            FlowClient(self._http, flow_url=flow_url, labs_url=labs_url),
            profiles,
            non_terminal=self._non_terminal,
            durations=self._durations,
            settings=self.settings.poller_settings(),
            gate=gate,
            gemini=GeminiClient(self._http),
        )

    def _join_cluster(self, conninfo: dict[str, Any]) -> ClusterNode:
        """Follow the shared store; lead (run the poller) while holding the lease, unless run_poller is off."""
        from server.cluster import ClusterNode  # noqa: PLC0415 - imports psycopg
        from server.lease import node_name  # noqa: PLC0415

        settings = self.settings
        cluster = ClusterNode(
            conninfo,
            node_name(settings.port or None),
            make_supervisor=self._make_supervisor,
            profiles=self._profiles()[0],
            rate=settings.rate,
            can_lead=settings.run_poller,
            companion=self._keep_while_leading if settings.keep_videos else None,
        )
        cluster.start()
        if not cluster.wait_decided(timeout=CLUSTER_DECISION_TIMEOUT):
            logger.warning("not yet known whether this node leads the cluster; serving meanwhile")
        return cluster

    def _profiles(self) -> tuple[dict[str, Profile], bool]:
        """The configured profiles, or the stand-in profile (True) when Flow is the simulator."""
        settings = self.settings
        if settings.profiles is not None:
            loaded = load_profiles(settings.profiles)
            self.warnings.extend(loaded.warnings)
            return dict(loaded), False
        profile = Profile(
            name=SIMULATOR_PROFILE,
            project_id="simulator-project",
            bearer_token="ya29.simulator",  # noqa: S106 - the built-in simulator's stand-in, not a secret
            session_cookie="simulator-session",
            recaptcha="required" if settings.simulator.require_captcha else "off",  # the simulator checks none
        )
        return {SIMULATOR_PROFILE: profile}, True

    def _flow_target(self) -> tuple[dict[str, Profile], str, str]:
        settings = self.settings
        profiles, simulated = self._profiles()
        if not simulated:
            return profiles, settings.flow_url or DEFAULT_FLOW_URL, settings.labs_url or DEFAULT_LABS_URL
        if settings.flow_url is None and self.simulator is None:  # no Flow named: the built-in simulator
            self.simulator = self._start_simulator()
        url = settings.flow_url or self._simulator_url()
        return profiles, url, settings.labs_url or url

    def _simulator_url(self) -> str:
        assert self.simulator is not None
        return self.simulator.url

    def _start_simulator(self) -> Simulator:
        """The built-in simulator keeps its operations in the data directory and, when it can, its port, so
        jobs in flight and video links survive a restart of `veo serve`."""
        config = self.settings.simulator
        data_dir = self.settings.data_dir
        if config.state_file is None:
            config = dataclasses.replace(config, state_file=data_dir / SIMULATOR_STATE)
        remembered = data_dir / SIMULATOR_PORT
        if config.port == 0 and remembered.exists():
            try:
                port = int(json.loads(remembered.read_text())["port"])
                simulator = Simulator(dataclasses.replace(config, port=port))
                simulator.start()
                return simulator
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.info("the simulator's previous port is not available (%s); taking a free one", exc)
        simulator = Simulator(config)
        simulator.start()
        write_private(remembered, json.dumps({"port": simulator.port}) + "\n")
        return simulator

    def _non_terminal(self) -> list[Unfinished]:
        self.projections.wait_for(self.app.last_position(), timeout=30.0)
        return [
            Unfinished(UUID(row.id), datetime.fromisoformat(row.started_at) if row.started_at else None)
            for row in self.history.non_terminal(self.db.reader())
        ]

    def _durations(self) -> dict[tuple[str, str], list[float]]:
        return self.analytics.recent_durations(self.db.reader())

    def stop(self) -> None:
        """Stop everything in reverse order; safe after a partial start."""
        if self._cluster is not None:
            self._cluster.stop()
        if self._poller is not None:
            self._poller.stop()
        if self._keeper is not None:
            self._keeper.stop()
        if self._video_http is not None:
            self._video_http.close()
        if self._http is not None:
            self._http.close()
        if self._listener is not None:
            self._listener.stop()
        if self._projections is not None:
            self._projections.stop()
        if self.simulator is not None:
            self.simulator.stop()
        if self._db is not None:
            self._db.close()
        if self._app is not None:
            self._app.close()
        if self._store_lock is not None:
            self._store_lock.release()
            self._store_lock = None


def follow_store(conninfo: dict[str, Any], app: VeoRelay, wake: Callable[[], None]) -> StoreListener:
    """Wake `wake` on every insert any node commits to a PostgreSQL store (LISTEN on its recorder's channel)."""
    from projections.postgres import StoreListener  # noqa: PLC0415 - imports psycopg

    channel: str = getattr(app.recorder, "channel_name")  # noqa: B009 - the PostgreSQL recorder's NOTIFY channel
    listener = StoreListener(conninfo, channel, wake)
    listener.start()
    return listener


def _started(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the system is not started")
    return part
