"""Video downloads of Gemini API profiles for the VideoKeeper: with the profile's key (header only) and, for
requests to the API host, one start of the request budget each (storage hosts a download is redirected to
are not counted: they are not the API)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager

import httpx

from actors.gemini import GeminiClient, is_api_url
from actors.profiles import Profile
from actors.video_keeper import AccountFetch, Fetch

__all__ = ["gemini_fetches"]

logger = logging.getLogger(__name__)


def gemini_fetches(client: GeminiClient, profiles: Mapping[str, Profile], reserve: Callable[[], bool]) -> AccountFetch:
    """The VideoKeeper's `by_account`: a Gemini profile's fetch, None for any other account. `reserve` waits for
    a budget slot (False: none came, and the attempt fails to be tried again later)."""

    def for_account(account: str | None) -> Fetch | None:
        profile = profiles.get(account) if account is not None else None
        if profile is None or not profile.is_gemini:
            return None

        def fetch(url: str) -> AbstractContextManager[httpx.Response]:
            if is_api_url(url, profile) and not reserve():
                raise httpx.PoolTimeout("no request budget for the video download came in time")
            return client.download(profile, url)

        return fetch

    return for_account
