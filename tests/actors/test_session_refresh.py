"""A token provider's session cookie reaching the poller: used by the next refresh, unblocking a waiting profile."""

from __future__ import annotations

import logging

import httpx
import pytest

from actors.calls import CallKind
from actors.flow import SessionTokens, Unauthenticated
from actors.flow.errors import error_from_response
from tests.actors.fakes import Rig, describe, make_profile, make_rig

SUBMIT, REFRESH_TOKEN = CallKind.SUBMIT, CallKind.REFRESH_TOKEN
FRESH = "fresh-session-cookie-from-the-browser"


def expired_bearer() -> Unauthenticated:
    """How the Flow client classifies a 401 to a submission."""
    error = error_from_response(httpx.Response(401, json={}), what="the generate request", submission=True, now=0.0)
    assert isinstance(error, Unauthenticated)
    return error


def refused_session() -> Unauthenticated:
    return Unauthenticated("The labs session gave no usable access token; log in to labs.google again.")


def refreshes(rig: Rig) -> int:
    return len(rig.runner.calls(REFRESH_TOKEN))


def pause_reason(rig: Rig) -> str:
    """Why profile p is paused (it must be)."""
    (paused,) = rig.poller.status().paused_profiles
    assert paused.profile_id == "p"
    return paused.reason or ""


def submitted_and_refused(rig: Rig) -> None:
    """One queued job whose submission Flow refuses with 401."""
    rig.queued()
    rig.answer(rig.next_call(SUBMIT), expired_bearer())


def test_a_profile_without_a_cookie_waits_and_a_provided_one_refreshes_it_at_once() -> None:
    """401 with no cookie pauses the profile; the provider's cookie starts a refresh now, and the job goes again."""
    rig = make_rig(profiles=[make_profile(cookie=False)])
    submitted_and_refused(rig)
    assert rig.run(rig.clock.now + 5.0) == []
    assert "no session cookie" in pause_reason(rig)

    rig.poller.provide_session("p", FRESH, "p1")
    refresh = rig.next_call(REFRESH_TOKEN, within=0.2)
    name, (profile,) = describe(refresh)
    assert (name, profile.session_cookie) == ("refresh_bearer", FRESH)
    rig.answer(refresh, SessionTokens(access_token="ya29.renewed"))
    assert rig.poller.status().paused_profiles == ()
    rig.next_call(SUBMIT, within=1.0)


def test_a_cookie_for_a_working_profile_only_replaces_the_cookie() -> None:
    """Nothing is called at once: the next refresh, whenever one is needed, uses the new cookie."""
    profile = make_profile()
    rig = make_rig(profiles=[profile])
    rig.poller.provide_session("p", FRESH, "p1")
    assert rig.tick() == []
    assert profile.session_cookie == FRESH
    submitted_and_refused(rig)
    _, (used,) = describe(rig.next_call(REFRESH_TOKEN))
    assert used.session_cookie == FRESH


def test_a_refused_cookie_waits_for_a_new_one() -> None:
    """The session endpoint refuses the configured cookie: no more refreshes until a provider sends another."""
    rig = make_rig()
    submitted_and_refused(rig)
    rig.answer(rig.next_call(REFRESH_TOKEN), refused_session())
    rig.run(rig.clock.now + 600.0, respond=lambda call: expired_bearer())  # the job is tried again after pauses
    assert refreshes(rig) == 1
    assert "session cookie was refused" in pause_reason(rig)
    rig.poller.provide_session("p", FRESH, "p1")
    rig.next_call(REFRESH_TOKEN, within=0.2)
    assert refreshes(rig) == 2


def test_a_cookie_arriving_during_a_failing_refresh_is_tried_straight_after() -> None:
    """The refresh in flight used the old cookie; when it fails, the new one is tried without waiting for a pause."""
    rig = make_rig()
    submitted_and_refused(rig)
    in_flight = rig.next_call(REFRESH_TOKEN)
    rig.poller.provide_session("p", FRESH, "p1")
    assert refreshes(rig) == 1  # one refresh per profile at a time
    rig.answer(in_flight, refused_session())
    _, (profile,) = describe(rig.next_call(REFRESH_TOKEN, within=0.2))
    assert profile.session_cookie == FRESH


def test_a_cookie_for_an_unknown_profile_is_ignored() -> None:
    """The server checks profiles first; the poller still never fails on one it does not know."""
    rig = make_rig()
    rig.poller.provide_session("elsewhere", FRESH, "p1")
    assert rig.tick() == []


def test_the_log_names_profile_and_provider_never_the_cookie(caplog: pytest.LogCaptureFixture) -> None:
    """One info line says whose cookie changed and who sent it."""
    rig = make_rig(profiles=[make_profile(cookie=False)])
    with caplog.at_level(logging.DEBUG):
        submitted_and_refused(rig)
        rig.poller.provide_session("p", FRESH, "p7")
        rig.answer(rig.next_call(REFRESH_TOKEN, within=0.2), SessionTokens(access_token="ya29.renewed"))
    assert "session cookie for profile p updated by provider p7" in caplog.messages
    assert FRESH not in caplog.text
