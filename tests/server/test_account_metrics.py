"""`/metrics` per account: one sample per profile, labelled by its name (escaped), states as a set of 0/1 gauges."""

from __future__ import annotations

from actors.queue_status import AccountStatus
from server.account_metrics import account_families, labelled


def status(profile_id: str, state: str = "ready", limit: int | None = 4, credits: int | None = None) -> AccountStatus:
    return AccountStatus(
        profile_id=profile_id,
        state=state,
        seconds_left=None,
        reason=None,
        pool=True,
        active=2,
        limit=limit,
        configured_limit=limit,
        gap=1.5,
        configured_gap=1.5,
        throttles_last_hour=1,
        throttles_total=3,
        blocks_total=0,
        done_last_24h=7,
        credits=credits,
        models_out_of_quota={"veo_3_1_t2v_quality": "2026-12-08T08:00:00.000Z"} if state == "ready" else {},
    )


def samples(accounts: tuple[AccountStatus, ...]) -> dict[str, list[str]]:
    return {
        name: [f"{labelled(name, labels)} {value}" for labels, value in rows]
        for name, _, _, rows in account_families(accounts)
    }


def test_each_account_has_its_figures_labelled_by_profile_name() -> None:
    shown = samples((status("work", credits=1240), status("home", state="resting", limit=None)))
    assert shown["veo_account_active"] == [
        'veo_account_active{profile="work"} 2',
        'veo_account_active{profile="home"} 2',
    ]
    assert shown["veo_account_limit"] == ['veo_account_limit{profile="work"} 4']  # no limit: no sample
    assert shown["veo_account_throttles_total"][0] == 'veo_account_throttles_total{profile="work"} 3'
    assert shown["veo_account_blocks_total"][1] == 'veo_account_blocks_total{profile="home"} 0'
    assert shown["veo_account_credits"] == ['veo_account_credits{profile="work"} 1240']  # not known: no sample
    assert shown["veo_account_models_out_of_quota"] == [
        'veo_account_models_out_of_quota{profile="work"} 1',
        'veo_account_models_out_of_quota{profile="home"} 0',
    ]
    assert shown["veo_account_state"] == [
        'veo_account_state{profile="work",state="ready"} 1',
        'veo_account_state{profile="work",state="paused"} 0',
        'veo_account_state{profile="work",state="resting"} 0',
        'veo_account_state{profile="work",state="out_of_quota"} 0',
        'veo_account_state{profile="home",state="ready"} 0',
        'veo_account_state{profile="home",state="paused"} 0',
        'veo_account_state{profile="home",state="resting"} 1',
        'veo_account_state{profile="home",state="out_of_quota"} 0',
    ]


def test_a_state_it_does_not_list_gets_a_sample_of_its_own() -> None:
    (*_, last) = samples((status("a", state="lost in thought"),))["veo_account_state"]
    assert last == 'veo_account_state{profile="a",state="lost in thought"} 1'


def test_a_profile_name_cannot_break_the_exposition_format() -> None:
    assert labelled("m", {"profile": 'a"b\\c\nd'}) == 'm{profile="a\\"b\\\\c\\nd"}'


def test_no_accounts_no_families() -> None:
    assert account_families(()) == []
