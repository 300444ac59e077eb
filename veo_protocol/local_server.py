"""How a local `veo serve` and its clients find each other: the data directory (0700), the token files (generated
once, 0600: `token` for clients, `provider-token` for the browser extension) and `server.json` (where the running
server listens, 0600); and how files there are kept private."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import tempfile
from pathlib import Path

import platformdirs

__all__ = [
    "PROVIDER_TOKEN_FILE",
    "default_data_dir",
    "load_or_create_provider_token",
    "load_or_create_token",
    "narrow_files",
    "open_to_others",
    "private_dir",
    "read_client_defaults",
    "remove_server_info",
    "write_private",
    "write_server_info",
]

TOKEN_FILE = "token"  # noqa: S105 - a file name
PROVIDER_TOKEN_FILE = "provider-token"  # noqa: S105 - a file name
SERVER_FILE = "server.json"


def default_data_dir() -> Path:
    """The user data directory of veo-relay (platformdirs)."""
    return platformdirs.user_data_path("veo-relay")


def private_dir(path: Path) -> None:
    """Create `path` (and its parents) if missing, readable by this user only (0700; on POSIX)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def open_to_others(path: Path) -> str | None:
    """A warning when an existing directory is readable, writable or searchable by other users (POSIX), else None."""
    if os.name != "posix" or not path.is_dir():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return None
    return (
        f"the data directory {path} is open to other users (mode {mode:04o}): they may read its prompts, video "
        f"links and token; make it private with `chmod 700 {path}`"
    )


def narrow_files(path: Path) -> None:
    """Make the files directly in `path` readable by this user only (0600; POSIX): an older version left them
    open to others (links are left alone)."""
    if os.name != "posix" or not path.is_dir():
        return
    for entry in path.iterdir():
        status = entry.lstat()
        if stat.S_ISREG(status.st_mode) and stat.S_IMODE(status.st_mode) & 0o077:
            entry.chmod(0o600)


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by this user only (0600): written to a fresh private file
    beside it (never a name someone could have planted a link at), then renamed over it."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _stored_or_new(path: Path) -> tuple[str, bool]:
    """The token kept in `path`, or a new one written there; (token, new)."""
    if path.exists():
        stored = path.read_text().strip()
        if stored:
            return stored, False
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token, True


def load_or_create_token(data_dir: Path, given: str | None) -> tuple[str, bool]:
    """The token to require: `given` (and kept for local clients), the stored one, or a new one; (token, new)."""
    if given:
        write_private(data_dir / TOKEN_FILE, given + "\n")
        return given, False
    return _stored_or_new(data_dir / TOKEN_FILE)


def load_or_create_provider_token(data_dir: Path) -> tuple[str, bool]:
    """The provider token (for the browser extension: it may only provide tokens and sessions), stored beside
    the client token or generated once; (token, new)."""
    return _stored_or_new(data_dir / PROVIDER_TOKEN_FILE)


def write_server_info(data_dir: Path, url: str) -> None:
    """Record where the running server listens."""
    write_private(data_dir / SERVER_FILE, json.dumps({"url": url, "pid": os.getpid()}) + "\n")


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
