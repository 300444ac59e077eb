"""The provider token file: generated once beside the client token, mode 0600, and not the client token."""

from __future__ import annotations

import stat
from pathlib import Path

from veo_protocol.local_server import PROVIDER_TOKEN_FILE, load_or_create_provider_token, load_or_create_token


def test_the_provider_token_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    """A new one the first time, the same one after (a restart), in `provider-token` mode 0600."""
    first, new = load_or_create_provider_token(tmp_path)
    again, new_again = load_or_create_provider_token(tmp_path)
    assert (new, new_again) == (True, False)
    assert first == again and len(first) >= 40
    path = tmp_path / PROVIDER_TOKEN_FILE
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_it_differs_from_the_client_token_even_when_that_one_is_given(tmp_path: Path) -> None:
    """`--token T` sets the client token only; the provider token stays its own."""
    client, _ = load_or_create_token(tmp_path, "a-client-token-given-on-the-command-line")
    provider, _ = load_or_create_provider_token(tmp_path)
    assert provider != client
    assert (tmp_path / "token").read_text().strip() == client
