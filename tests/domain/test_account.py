"""The Account aggregate: one per profile, folding what the relay learned into the latest limits and holds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from domain.account import RECENT_THROTTLES, Account, account_id
from domain.application import VeoRelay


def test_an_account_keeps_the_latest_limits_and_the_longest_holds() -> None:
    account = Account(profile_id="a")
    assert account.id == account_id("a")
    assert not account.learned
    account.throttle(100.0, 110.0, 3, 1.0, 1)
    account.rest(120.0, 720.0, 1200.0, 2, 2.0)
    account.throttle(130.0, 105.0, 2, 4.0, 2)  # an earlier end than the pause already known
    account.relax(3, 3.0, 1, 600.0)
    account.quota_out(140.0, 86540.0, "quota reached")
    assert account.learned
    assert (account.max_active, account.gap, account.ladder_step, account.next_rest_s) == (3, 3.0, 1, 600.0)
    assert (account.paused_until, account.resting_until) == (110.0, 720.0)
    assert (account.quota_until, account.quota_reason) == (86540.0, "quota reached")
    assert account.throttles == [100.0, 120.0, 130.0]
    names = [type(e).__qualname__ for e in account.collect_events()]
    assert names == [
        "Account.Opened",
        "Account.Throttled",
        "Account.Rested",
        "Account.Throttled",
        "Account.LimitsRelaxed",
        "Account.QuotaOut",
    ]


def test_an_account_keeps_only_its_latest_throttle_instants() -> None:
    account = Account(profile_id="a")
    for at in range(RECENT_THROTTLES + 5):
        account.throttle(float(at), 0.0, None, 1.0, 0)
    assert account.throttles == [float(at) for at in range(5, RECENT_THROTTLES + 5)]


def test_a_models_quota_out_leaves_the_account_in() -> None:
    account = Account(profile_id="a")
    account.quota_out(140.0, 86540.0, "quota reached", "veo_3_1_t2v_fast")
    account.quota_out(150.0, 90000.0, "quota reached", "veo_3_1_t2v_quality")
    assert (account.quota_until, account.quota_reason) == (0.0, None)
    assert account.model_quota == {"veo_3_1_t2v_fast": 86540.0, "veo_3_1_t2v_quality": 90000.0}


def test_a_quota_out_stored_before_models_were_named_reads_back_as_account_wide(tmp_path: Path) -> None:
    """A version-1 `QuotaOut` (no `model` field, no class version) is upcast to one for the whole account."""
    path = tmp_path / "events.sqlite"
    app = VeoRelay(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})
    app.record_account("a", lambda account: account.quota_out(1.0, 2.0, "quota reached"))
    with sqlite3.connect(path) as db:
        ((rowid, state),) = db.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE '%QuotaOut'")
        old = {key: value for key, value in json.loads(state).items() if key not in ("model", "class_version")}
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (json.dumps(old).encode(), rowid))
    again = VeoRelay(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}).get_account("a")
    assert again is not None
    assert (again.quota_until, again.quota_reason, again.model_quota) == (2.0, "quota reached", {})
