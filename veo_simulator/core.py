"""The simulator's mutable state in one place, guarded by one lock; snapshot, changes and restore."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from veo_simulator.accounts import AccountBook
from veo_simulator.audit import Audit, gemini_report, operation_record
from veo_simulator.auth import AuthState, CaptchaBook, TokenBook
from veo_simulator.changes import ChangeSet
from veo_simulator.config import SimulatorConfig
from veo_simulator.faults import FaultPicker
from veo_simulator.gemini_keys import KeyBook
from veo_simulator.gemini_state import GeminiBook
from veo_simulator.persistence import StateSnapshot
from veo_simulator.state import Clock, OperationBook
from veo_simulator.throttle import ArrivalWindow

__all__ = ["SimCore"]

logger = logging.getLogger(__name__)


def _rng(seed: int | None, stream: str) -> random.Random:
    return random.Random(f"{stream}:{seed}") if seed is not None else random.Random()


def _nothing() -> None:
    return None


class SimCore:
    """Operations, accounts, tokens, captcha, audit, rate window, faults and the Gemini API's operations and
    keys; callers hold ``lock`` to use them."""

    def __init__(self, config: SimulatorConfig, wall: Clock, monotonic: Clock) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.wall = wall
        self.monotonic = monotonic
        self.rng = _rng(config.seed, "misc")
        self._changes = ChangeSet(enabled=config.state_file is not None)
        rng = _rng(config.seed, "operations")
        self.book = OperationBook(wall, rng, config.lo, config.hi, config.fail, changes=self._changes)
        self.accounts = AccountBook(config.account_limits(), self.book, config.credits, self._changes)
        self.tokens = TokenBook(changes=self._changes)
        self.captcha = CaptchaBook(changes=self._changes)
        self.audit = Audit(self._changes)
        self.window = ArrivalWindow(config.rate)
        self.faults = FaultPicker(config.fault_mix(), _rng(config.seed, "faults"))
        self.gemini = GeminiBook(
            wall,
            _rng(config.seed, "gemini"),
            config.lo,
            config.hi,
            config.gemini_fail,
            config.gemini_filtered,
            config.gemini_file_ttl_s,
            self._changes,
        )
        self.gemini_keys = KeyBook(config.gemini_keys)
        self.on_change: Callable[[], None] = _nothing

    def changed(self) -> None:
        """Persistent state changed (the state file is saved soon)."""
        self.on_change()

    def snapshot(self) -> StateSnapshot:
        """Everything the state file keeps (the changes collected so far are part of it)."""
        with self.lock:
            self._changes.take()
            auth = AuthState()
            self.tokens.dump(auth)
            self.captcha.dump(auth)
            return StateSnapshot(
                operations=[msgspec.structs.replace(op) for op in self.book.all()],
                auth=auth,
                generate_calls_per_scene=dict(self.audit.generate_calls_per_scene),
                accounts=self.accounts.all(),
                gemini_operations=[msgspec.structs.replace(op) for op in self.gemini.all()],
            )

    def changes(self) -> StateSnapshot | None:
        """What changed since the last ``snapshot`` or ``changes``: a record for the state file, None if nothing."""
        with self.lock:
            taken = self._changes.take()
            if not taken:
                return None
            found = (self.book.get(name) for name in taken.operations)
            calls = self.audit.generate_calls_per_scene
            accounts = (self.accounts.get(account_id) for account_id in taken.accounts)
            gemini = (self.gemini.get(operation_id) for operation_id in taken.gemini)
            return StateSnapshot(
                operations=[msgspec.structs.replace(op) for op in found if op is not None],
                auth=AuthState(
                    sessions=self.tokens.session_tokens(taken.sessions),
                    expired=taken.expired,
                    captcha_seen=taken.captcha_seen,
                ),
                generate_calls_per_scene={scene: calls[scene] for scene in taken.scenes},
                forgotten=sorted(taken.forgotten),
                accounts=[account.copy() for account in accounts if account is not None],
                gemini_operations=[msgspec.structs.replace(op) for op in gemini if op is not None],
            )

    def restore(self, snapshot: StateSnapshot) -> None:
        """Take back what a previous run saved."""
        with self.lock:
            self.book.restore(snapshot.operations)
            self.accounts.restore(snapshot.accounts, snapshot.operations)
            self.tokens.load(snapshot.auth)
            self.captcha.load(snapshot.auth)
            self.audit.generate_calls_per_scene.update(snapshot.generate_calls_per_scene)
            self.gemini.restore(snapshot.gemini_operations)

    def report(self) -> dict[str, Any]:
        """The audit (``GET /_sim/audit``)."""
        with self.lock:
            operations = [operation_record(op, self.book.status(op)) for op in self.book.all()]
            now = self.wall()
            report = self.audit.report(self.window.max_count, operations, self.tokens, self.captcha, now)
            report["account_limits"] = self.accounts.limits.as_dict()
            report["accounts"] = self.accounts.report(now)
            report["gemini"] = gemini_report(self.gemini, self.gemini_keys, self.config.gemini_rpm, now)
            return report
