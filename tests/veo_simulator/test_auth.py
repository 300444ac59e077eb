"""Bearer tokens and single-use captcha tokens, without HTTP."""

from __future__ import annotations

import itertools

from veo_simulator.auth import AuthState, CaptchaBook, TokenBook, digest_prefix


def counting_mint() -> TokenBook:
    counter = itertools.count(1)
    return TokenBook(mint=lambda: f"ya29.t{next(counter)}")


def test_any_token_is_valid_until_expired() -> None:
    """Unknown tokens are fine; expired ones and empty ones are not."""
    tokens = counting_mint()
    assert tokens.is_valid("whatever")
    tokens.expire("whatever")
    assert not tokens.is_valid("whatever")
    assert not tokens.is_valid("")
    assert tokens.expired_count == 1


def test_session_keeps_its_token_until_it_expires() -> None:
    """The same cookie gets the same token, and a fresh one after expiry."""
    tokens = counting_mint()
    assert tokens.session_token("cookie") == "ya29.t1"
    assert tokens.session_token("cookie") == "ya29.t1"
    tokens.expire("ya29.t1")
    assert tokens.session_token("cookie") == "ya29.t2"
    assert tokens.session_token("other") == "ya29.t3"
    assert tokens.issued == 3


def test_token_state_round_trips_without_raw_expired_tokens() -> None:
    """Dumped state keeps digests of expired tokens, and loads back."""
    tokens = counting_mint()
    session = tokens.session_token("cookie")
    tokens.expire("secret-token")
    state = AuthState()
    tokens.dump(state)
    assert "secret-token" not in str(state)
    again = counting_mint()
    again.load(state)
    assert not again.is_valid("secret-token")
    assert again.session_token("cookie") == session


def test_captcha_tokens_are_single_use() -> None:
    """First use passes, reuse and empty tokens do not; state keeps the digests."""
    book = CaptchaBook()
    assert book.consume("a")
    assert not book.consume("a")
    assert not book.consume("")
    assert book.seen_count == 1
    state = AuthState()
    book.dump(state)
    again = CaptchaBook()
    again.load(state)
    assert not again.consume("a")


def test_captcha_use_is_recorded_as_a_digest_prefix() -> None:
    """Per scene, the audit keeps a sha256 prefix of the token used."""
    book = CaptchaBook()
    book.record_use("scene", "token")
    book.record_use("scene", "")
    assert book.by_scene == {"scene": [digest_prefix("token")]}
