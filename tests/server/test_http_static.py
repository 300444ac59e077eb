"""The dashboard's files are the only files `/` serves: a path naming anything else is 404, on every OS.

Windows treats `\\` as a separator and `C:\\...` as absolute; the attack is replayed here on a stand-in
package whose paths follow Windows rules (`ntpath`), with a secret file outside the static folder.
"""

from __future__ import annotations

import ntpath
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.access import Keys
from server.host_check import HostCheck
from server.http_front import HttpFront

TOKEN = "front-test-token"
SECRET = b"the client token"
PACKAGE = "C:\\veo\\server"
FILES = {
    f"{PACKAGE}\\static\\index.html": b"<html></html>",
    f"{PACKAGE}\\static\\app.js": b"// app",
    "C:\\Users\\me\\AppData\\veo-relay\\token": SECRET,
    f"{PACKAGE}\\token": SECRET,
}
ATTACKS = [
    "/C:\\Users\\me\\AppData\\veo-relay\\token",
    "/C:/Users/me/AppData/veo-relay/token",
    "/..\\token",
    "/x\\..\\..\\token",
    "/%2e%2e/token",
    "/%2e%2e%5ctoken",
    "/static/../token",
    "/static/index.html",
    "/.hidden",
    "//etc/passwd",
]


class WindowsTraversable:
    """A package folder on a Windows disk, held in memory: `joinpath` follows Windows path rules."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return ntpath.basename(self.path)

    def joinpath(self, *parts: str) -> WindowsTraversable:
        return WindowsTraversable(ntpath.normpath(ntpath.join(self.path, *parts)))

    def is_file(self) -> bool:
        return self.path in FILES

    def is_dir(self) -> bool:
        return any(name.startswith(self.path + "\\") for name in FILES)

    def iterdir(self) -> Iterator[WindowsTraversable]:
        for name in FILES:
            if ntpath.dirname(name) == self.path:
                yield WindowsTraversable(name)

    def read_bytes(self) -> bytes:
        return FILES[self.path]


def get(front: HttpFront, path: str) -> tuple[int, bytes]:
    response = front(None, Request(path, Headers([("Host", "127.0.0.1:8765")])))  # type: ignore[arg-type]
    assert isinstance(response, Response)
    return response.status_code, bytes(response.body)


def plain_front() -> HttpFront:
    return HttpFront(
        Keys(TOKEN, "provider-token"), lambda: "", set, HostCheck("127.0.0.1", lambda: 8765), lambda: 0, 10
    )


@pytest.mark.parametrize("path", ATTACKS)
def test_a_path_out_of_the_static_folder_is_404_with_windows_paths(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """`GET /C:\\...\\token` and its relatives read nothing outside the dashboard's own files."""
    monkeypatch.setattr(resources, "files", lambda _package: WindowsTraversable(PACKAGE))
    status, body = get(plain_front(), path)
    assert (status, SECRET in body) == (404, False)


@pytest.mark.parametrize("path", ATTACKS)
def test_a_path_out_of_the_static_folder_is_404(path: str) -> None:
    """The same requests against the real package."""
    status, _body = get(plain_front(), path)
    assert status == 404


def test_every_static_file_still_loads() -> None:
    """Each file of `server/static` is served under its own name, with its type; `/` is the dashboard."""
    front = plain_front()
    folder = Path(str(resources.files("server").joinpath("static")))
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    assert "index.html" in names
    for name in names:
        status, body = get(front, f"/{name}")
        assert (status, body) == (200, (folder / name).read_bytes())
    assert get(front, "/") == get(front, "/index.html")
