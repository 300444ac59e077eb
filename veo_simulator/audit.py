"""What the simulator saw and did, for tests and benchmarks (``GET /_sim/audit``)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

from veo_simulator.auth import CaptchaBook, TokenBook
from veo_simulator.changes import ChangeSet
from veo_simulator.faults import Fault
from veo_simulator.gemini_keys import KeyBook
from veo_simulator.gemini_state import GeminiBook, GeminiOperation
from veo_simulator.state import Operation, Status

__all__ = ["Audit", "gemini_report", "operation_record"]

logger = logging.getLogger(__name__)


def operation_record(operation: Operation, status: Status) -> dict[str, Any]:
    """One operation as the audit lists it (instants are epoch seconds)."""
    return {
        "name": operation.name,
        "media_name": operation.media_name,
        "media_generation_id": operation.media_generation_id,
        "scene_id": operation.scene_id,
        "kind": operation.kind,
        "origin": operation.origin,
        "model": operation.model,
        "created_at": operation.created_at,
        "active_at": operation.active_at,
        "complete_at": operation.complete_at,
        "status": status.value,
        "final_status": operation.final_status.value,
        "failure_reason": operation.failure_reason,
        "cancelled_at": operation.cancelled_at,
        "first_seen_terminal_at": operation.first_seen_terminal_at,
        "ambiguous": operation.ambiguous,
    }


def _gemini_record(operation: GeminiOperation, now: float) -> dict[str, Any]:
    return {
        "name": operation.name,
        "key": operation.key,
        "model": operation.model,
        "aspect_ratio": operation.aspect_ratio,
        "duration_s": operation.duration_s,
        "resolution": operation.resolution,
        "samples": operation.samples,
        "created_at": operation.created_at,
        "complete_at": operation.complete_at,
        "done": operation.done_at(now),
        "outcome": operation.outcome,
        "files": list(operation.files),
        "first_seen_done_at": operation.first_seen_done_at,
        "ambiguous": operation.ambiguous,
    }


def gemini_report(book: GeminiBook, keys: KeyBook, rpm: int, now: float) -> dict[str, Any]:
    """The Gemini API's part of the audit: keys by label (never the key), calls without a valid key,
    storage downloads and every operation."""
    return {
        "rpm": rpm,
        "keys": keys.report(),
        "missing_key": keys.missing_key,
        "invalid_key": keys.invalid_key,
        "storage_downloads": keys.storage_downloads,
        "operations": [_gemini_record(op, now) for op in book.all()],
    }


class Audit:
    """Counters of requests, answers, injected faults and submissions per scene."""

    def __init__(self, changes: ChangeSet | None = None) -> None:
        self._changes = changes if changes is not None else ChangeSet()
        self.requests_by_path: Counter[str] = Counter()
        self.per_second: Counter[int] = Counter()
        self.responses_by_status: Counter[int] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.throttled_429 = 0
        self.admin_requests = 0
        self.media_downloads = 0
        self.ambiguous_submissions = 0
        self.ambiguous_requests = 0
        self.generate_calls_per_scene: Counter[str] = Counter()
        self.generate_attempts_per_scene: Counter[str] = Counter()

    def arrival(self, path: str, wall: float) -> None:
        """A Flow or labs request arrived (counted against the rate)."""
        self.requests_by_path[path] += 1
        self.per_second[int(wall)] += 1

    def fault(self, fault: Fault) -> None:
        """A fault was injected."""
        self.faults_injected[fault.value] += 1

    def attempted(self, scene_ids: Iterable[str]) -> None:
        """A generate/upscale call reached the handler (past the rate limit) for these scenes."""
        self.generate_attempts_per_scene.update(scene_ids)

    def created(self, scene_ids: Iterable[str]) -> None:
        """A generate/upscale call created operations for these scenes."""
        scenes = list(scene_ids)
        self.generate_calls_per_scene.update(scenes)
        self._changes.generate_calls(scenes)

    def ambiguous(self, operations: int) -> None:
        """A call created ``operations`` and was answered ambiguously."""
        self.ambiguous_submissions += operations
        self.ambiguous_requests += 1

    def report(
        self,
        window_max: int,
        operations: list[dict[str, Any]],
        tokens: TokenBook,
        captcha: CaptchaBook,
        now: float,
    ) -> dict[str, Any]:
        """The audit as a JSON-ready dict."""
        return {
            "now": now,
            "requests_total": sum(self.requests_by_path.values()),
            "requests_by_path": dict(self.requests_by_path),
            "per_second": {str(second): n for second, n in sorted(self.per_second.items())},
            "max_in_any_1s_window": window_max,
            "throttled_429": self.throttled_429,
            "responses_by_status": {str(code): n for code, n in sorted(self.responses_by_status.items())},
            "faults_injected": dict(self.faults_injected),
            "tokens_expired": tokens.expired_count,
            "sessions_issued": tokens.issued,
            "session_cookies_presented": list(tokens.cookies_presented),
            "generate_calls_per_scene": dict(self.generate_calls_per_scene),
            "generate_attempts_per_scene": dict(self.generate_attempts_per_scene),
            "duplicate_scene_ids": sorted(s for s, n in self.generate_calls_per_scene.items() if n > 1),
            "ambiguous_submissions": self.ambiguous_submissions,
            "ambiguous_requests": self.ambiguous_requests,
            "captcha_tokens_seen": captcha.seen_count,
            "captcha_rejected": captcha.rejected,
            "captcha_token_by_scene": {s: list(p) for s, p in captcha.by_scene.items()},
            "admin_requests": self.admin_requests,
            "media_downloads": self.media_downloads,
            "operations": operations,
        }
