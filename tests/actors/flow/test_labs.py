"""Session tokens, the media URL redirect, credits and cancel."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from actors.flow import (
    SESSION_COOKIE,
    CannotCancel,
    FlowClient,
    MalformedResponse,
    NotFound,
    Transient,
    Unauthenticated,
)
from actors.profiles import Profile
from tests.actors.flow.conftest import BEARER, COOKIE, FLOW, LABS, envelope

SESSION = f"{LABS}/fx/api/auth/session"
MEDIA_URL = f"{LABS}/fx/api/trpc/media.getMediaUrlRedirect"
CREDITS = f"{FLOW}/v1/credits"
CANCEL = f"{FLOW}/v1/flowMedia:cancelGeneration"
SIGNED = "https://flow-content.google/video/b5d4de86?Expires=1&Signature=abc"
SESSION_BODY = {
    "user": {"name": "A", "email": "a@example.com", "image": "https://example.com/a.png"},
    "expires": "2025-11-15T04:46:04.000Z",
    "access_token": "ya29.fresh-token",
}


def test_session_cookie_is_exchanged_for_an_access_token(client: FlowClient, router: respx.MockRouter) -> None:
    """The labs session endpoint, called with the session cookie, gives the bearer token."""
    route = router.get(SESSION).respond(200, json=SESSION_BODY)
    tokens = client.fetch_access_token(COOKIE)
    assert tokens.access_token == "ya29.fresh-token"
    assert tokens.session_cookie is None
    assert tokens.expires == "2025-11-15T04:46:04.000Z"
    assert not tokens.refresh_needed
    assert route.calls.last.request.headers["cookie"] == f"{SESSION_COOKIE}={COOKIE}"


def test_a_refreshed_session_cookie_is_returned(client: FlowClient, router: respx.MockRouter) -> None:
    """A Set-Cookie with a new session token is handed back for the caller to keep in memory."""
    router.get(SESSION).respond(
        200,
        json=SESSION_BODY,
        headers=[
            ("set-cookie", "__Host-next-auth.csrf-token=abc; Path=/; Secure"),
            ("set-cookie", f"{SESSION_COOKIE}=new-cookie-value; Path=/; Expires=Wed, 01 Jan 2031 00:00:00 GMT; Secure"),
        ],
    )
    tokens = client.fetch_access_token(COOKIE)
    assert tokens.access_token == "ya29.fresh-token"
    assert tokens.session_cookie == "new-cookie-value"


def test_a_cookie_being_deleted_is_not_a_refreshed_cookie(client: FlowClient, router: respx.MockRouter) -> None:
    """Set-Cookie with Max-Age=0 or an empty value clears, it does not refresh."""
    router.get(SESSION).respond(
        200,
        json=SESSION_BODY,
        headers=[("set-cookie", f"{SESSION_COOKIE}=; Max-Age=0"), ("set-cookie", f"{SESSION_COOKIE}=x; Max-Age=0")],
    )
    assert client.fetch_access_token(COOKIE).session_cookie is None


def test_access_token_refresh_needed_without_a_new_cookie_is_unauthenticated(
    client: FlowClient, router: respx.MockRouter
) -> None:
    """The stale token that comes with ACCESS_TOKEN_REFRESH_NEEDED is not handed out."""
    router.get(SESSION).respond(200, json={**SESSION_BODY, "error": "ACCESS_TOKEN_REFRESH_NEEDED"})
    with pytest.raises(Unauthenticated) as caught:
        client.fetch_access_token(COOKIE)
    assert caught.value.reason == "ACCESS_TOKEN_REFRESH_NEEDED"
    assert "ya29.fresh-token" not in str(caught.value)


def test_access_token_refresh_needed_with_a_new_cookie_returns_the_cookie(
    client: FlowClient, router: respx.MockRouter
) -> None:
    """With a refreshed cookie the caller keeps it and asks again; the stale token is withheld."""
    router.get(SESSION).respond(
        200,
        json={**SESSION_BODY, "error": "ACCESS_TOKEN_REFRESH_NEEDED"},
        headers={"set-cookie": f"{SESSION_COOKIE}=renewed; Path=/; Secure; HttpOnly"},
    )
    tokens = client.fetch_access_token(COOKIE)
    assert tokens.access_token is None
    assert tokens.session_cookie == "renewed"
    assert tokens.refresh_needed


@pytest.mark.parametrize("content", [b"{}", b"null"])
def test_a_session_without_a_token_is_unauthenticated(
    client: FlowClient, router: respx.MockRouter, content: bytes
) -> None:
    """NextAuth answers {} or null for an expired or unknown cookie."""
    router.get(SESSION).respond(200, content=content)
    with pytest.raises(Unauthenticated):
        client.fetch_access_token(COOKIE)


def test_an_unreadable_session_answer_is_malformed(client: FlowClient, router: respx.MockRouter) -> None:
    """An HTML login page instead of JSON raises MalformedResponse."""
    router.get(SESSION).respond(200, text="<html>sign in</html>")
    with pytest.raises(MalformedResponse):
        client.fetch_access_token(COOKIE)


def test_refresh_bearer_stores_token_and_cookie_in_the_profile(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """refresh_bearer updates the profile in memory with what the session gave."""
    router.get(SESSION).respond(200, json=SESSION_BODY, headers={"set-cookie": f"{SESSION_COOKIE}=renewed; Secure"})
    client.refresh_bearer(profile)
    assert profile.bearer_token == "ya29.fresh-token"
    assert profile.session_cookie == "renewed"


def test_refresh_bearer_keeps_a_cookie_provided_while_it_ran(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """A session cookie a provider sent during the refresh is not replaced by the one the old session renewed."""

    def answer(request: httpx.Request) -> httpx.Response:
        profile.session_cookie = "provided-meanwhile"
        return httpx.Response(200, json=SESSION_BODY, headers={"set-cookie": f"{SESSION_COOKIE}=renewed; Secure"})

    router.get(SESSION).mock(side_effect=answer)
    client.refresh_bearer(profile)
    assert profile.bearer_token == "ya29.fresh-token"
    assert profile.session_cookie == "provided-meanwhile"


def test_refresh_bearer_without_a_cookie_sends_nothing(client: FlowClient, router: respx.MockRouter) -> None:
    """A bearer-only profile cannot refresh itself."""
    with pytest.raises(Unauthenticated):
        client.refresh_bearer(Profile(name="b", project_id="p", bearer_token=BEARER))
    assert router.calls.call_count == 0


def test_media_url_is_read_from_the_redirect_without_following_it(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """The redirect's Location is the video URL; the signed URL itself is never fetched."""
    route = router.get(MEDIA_URL).respond(307, headers={"location": SIGNED})
    assert client.resolve_video_url(profile, "b5d4de86") == SIGNED
    request = route.calls.last.request
    assert request.url.params["name"] == "b5d4de86"
    assert request.headers["cookie"] == f"{SESSION_COOKIE}={COOKIE}"
    assert router.calls.call_count == 1


def test_media_url_redirect_is_not_followed_even_by_a_following_client(
    router: respx.MockRouter, profile: Profile
) -> None:
    """The client refuses redirects per request, whatever the shared httpx.Client does."""
    router.get(MEDIA_URL).respond(302, headers={"location": SIGNED})
    with httpx.Client(follow_redirects=True) as http:
        flow = FlowClient(http, flow_url=FLOW, labs_url=LABS)
        assert flow.resolve_video_url(profile, "m") == SIGNED


def test_media_url_uses_the_bearer_token_without_a_cookie(client: FlowClient, router: respx.MockRouter) -> None:
    """A profile with only a bearer token authenticates the redirect with it."""
    route = router.get(MEDIA_URL).respond(302, headers={"location": "/video/relative?sig=1"})
    url = client.resolve_video_url(Profile(name="b", project_id="p", bearer_token=BEARER), "m")
    assert url == f"{LABS}/video/relative?sig=1"
    assert route.calls.last.request.headers["authorization"] == f"Bearer {BEARER}"
    assert "cookie" not in route.calls.last.request.headers


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(404), httpx.Response(200, content=b""), httpx.Response(302), httpx.Response(200, json={})],
)
def test_media_url_that_lags_is_none(
    client: FlowClient, router: respx.MockRouter, profile: Profile, answer: httpx.Response
) -> None:
    """Right after SUCCESSFUL the URL may not exist yet: 404, empty or no Location gives None."""
    router.get(MEDIA_URL).mock(return_value=answer)
    assert client.resolve_video_url(profile, "m") is None


def test_media_url_errors_are_classified(client: FlowClient, router: respx.MockRouter, profile: Profile) -> None:
    """401 on the redirect means the cookie is stale; 500 there is just transient."""
    router.get(MEDIA_URL).mock(side_effect=[httpx.Response(401), httpx.Response(500)])
    with pytest.raises(Unauthenticated):
        client.resolve_video_url(profile, "m")
    with pytest.raises(Transient):
        client.resolve_video_url(profile, "m")


def test_credits_are_read_with_the_tier(client: FlowClient, router: respx.MockRouter, profile: Profile) -> None:
    """GET /v1/credits gives the balance (numbers as strings too) and the tier."""
    route = router.get(CREDITS).respond(
        200, json={"credits": "44440", "userPaygateTier": "PAYGATE_TIER_TWO", "sku": "x", "topUpCredits": {"a": 1}}
    )
    credits = client.credits(profile)
    assert credits.credits == 44440
    assert credits.tier == "PAYGATE_TIER_TWO"
    assert route.calls.last.request.headers["authorization"] == f"Bearer {BEARER}"


def test_credits_with_an_expired_token_is_unauthenticated(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """401 UNAUTHENTICATED asks for a token refresh."""
    router.get(CREDITS).respond(401, json=envelope(401, "UNAUTHENTICATED"))
    with pytest.raises(Unauthenticated):
        client.credits(profile)


def test_cancel_posts_the_media_id(client: FlowClient, router: respx.MockRouter, profile: Profile) -> None:
    """Cancel sends {"mediaId"} once."""
    route = router.post(CANCEL).respond(200, json={})
    client.cancel(profile, "b5d4de86")
    assert json.loads(route.calls.last.request.content) == {"mediaId": "b5d4de86"}
    assert route.call_count == 1


def test_cancel_of_a_finished_generation_is_cannot_cancel(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """FAILED_PRECONDITION MEDIA_GENERATION_CANNOT_BE_CANCELED has its own kind."""
    router.post(CANCEL).respond(
        400, json=envelope(400, "FAILED_PRECONDITION", "PUBLIC_ERROR_MEDIA_GENERATION_CANNOT_BE_CANCELED")
    )
    with pytest.raises(CannotCancel) as caught:
        client.cancel(profile, "m")
    assert caught.value.reason == "PUBLIC_ERROR_MEDIA_GENERATION_CANNOT_BE_CANCELED"


def test_cancel_of_an_unknown_media_is_not_found(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """404 on cancel is NotFound."""
    router.post(CANCEL).respond(404, json=envelope(404, "NOT_FOUND", message="Requested entity was not found."))
    with pytest.raises(NotFound):
        client.cancel(profile, "m")


def test_one_profiles_cookie_is_never_sent_for_another(client: FlowClient, router: respx.MockRouter) -> None:
    """Set-Cookie from labs is not kept in the shared httpx client's jar."""
    router.get(SESSION).respond(200, json=SESSION_BODY, headers={"set-cookie": f"{SESSION_COOKIE}=a-renewed; Path=/"})
    route = router.get(MEDIA_URL).respond(302, headers={"location": SIGNED})
    client.fetch_access_token(COOKIE)
    client.resolve_video_url(Profile(name="b", project_id="p", bearer_token=BEARER), "m")
    assert "cookie" not in route.calls.last.request.headers
