"""How a local `veo serve` and its clients find each other: the data directory, the token files (generated once,
mode 0600: `token` for clients, `provider-token` for the browser extension) and `server.json` (where the running
server listens)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import platformdirs

__all__ = [
    "PROVIDER_TOKEN_FILE",
    "default_data_dir",
    "load_or_create_provider_token",
    "load_or_create_token",
    "read_client_defaults",
    "remove_server_info",
    "write_server_info",
]

TOKEN_FILE = "token"  # noqa: S105 - a file name
PROVIDER_TOKEN_FILE = "provider-token"  # noqa: S105 - a file name
SERVER_FILE = "server.json"


def default_data_dir() -> Path:
    """The user data directory of veo-relay (platformdirs)."""
    return platformdirs.user_data_path("veo-relay")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _stored_or_new(path: Path) -> tuple[str, bool]:
    """The token kept in `path`, or a new one written there; (token, new)."""
    if path.exists():
        stored = path.read_text().strip()
        if stored:
            return stored, False
    token = secrets.token_urlsafe(32)
    _write_private(path, token + "\n")
    return token, True


def load_or_create_token(data_dir: Path, given: str | None) -> tuple[str, bool]:
    """The token to require: `given` (and kept for local clients), the stored one, or a new one; (token, new)."""
    if given:
        _write_private(data_dir / TOKEN_FILE, given + "\n")
        return given, False
    return _stored_or_new(data_dir / TOKEN_FILE)


def load_or_create_provider_token(data_dir: Path) -> tuple[str, bool]:
    """The provider token (for the browser extension: it may only provide tokens and sessions), stored beside
    the client token or generated once; (token, new)."""
    return _stored_or_new(data_dir / PROVIDER_TOKEN_FILE)


def write_server_info(data_dir: Path, url: str) -> None:
    """Record where the running server listens."""
    _write_private(data_dir / SERVER_FILE, json.dumps({"url": url, "pid": os.getpid()}) + "\n")


def remove_server_info(data_dir: Path) -> None:
    """The server stopped."""
    (data_dir / SERVER_FILE).unlink(missing_ok=True)


def read_client_defaults(data_dir: Path) -> tuple[str | None, str | None]:
    """(url, token) a local `veo serve` left in the data directory, each None when absent."""
    url = None
    try:
        url = json.loads((data_dir / SERVER_FILE).read_text()).get("url")
    except (OSError, ValueError, AttributeError):
        url = None
    try:
        token = (data_dir / TOKEN_FILE).read_text().strip() or None
    except OSError:
        token = None
    return url, token
