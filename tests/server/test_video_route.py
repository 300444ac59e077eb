"""How `/videos/ID` reads a Range header (single ranges, suffixes, the cap per answer, and what is ignored), and
that no answer, with a Range or without, holds more of a video than one answer's cap."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from actors.video_files import VideoFiles
from server.video_route import MAX_CHUNK, StoredVideo, VideoRoute, parse_range

SIZE = 4096
BIG = 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, SIZE, None),
        ("bytes=0-99", SIZE, (0, 99)),
        ("bytes=100-", SIZE, (100, SIZE - 1)),
        ("bytes=4000-9999", SIZE, (4000, SIZE - 1)),
        ("bytes=-10", SIZE, (SIZE - 10, SIZE - 1)),
        ("bytes=-99999", SIZE, (0, SIZE - 1)),
        ("bytes=0-", BIG, (0, MAX_CHUNK - 1)),
        ("bytes=1000-999999999", BIG, (1000, 1000 + MAX_CHUNK - 1)),
        ("bytes=4096-", SIZE, False),
        ("bytes=-0", SIZE, False),
        ("bytes=10-5", SIZE, None),
        ("bytes=0-1,5-9", SIZE, None),
        ("items=0-1", SIZE, None),
        ("bytes=-", SIZE, None),
    ],
)
def test_a_range_header_is_read_as_the_route_answers_it(
    header: str | None, size: int, expected: tuple[int, int] | bool | None
) -> None:
    """A satisfiable range gives its bytes (capped at MAX_CHUNK); past the end is False (416); a missing,
    malformed or multi-range header is None (the whole file, 200)."""
    assert parse_range(header, size) == expected


def route_to(tmp_path: Path, size: int, limit: int, whole_limit: int | None = None) -> tuple[VideoRoute, bytes]:
    """A route whose only video is `size` bytes long, answering at most `limit` bytes a range (and at most
    `whole_limit`, by default `limit`, without one)."""
    content = bytes(range(256)) * (size // 256)
    files = VideoFiles(tmp_path / "videos")
    with files.partial() as partial:
        partial.write(content)
        stored = partial.commit()
    video = StoredVideo(stored.sha256, size, "video/mp4")
    lookup = lambda generation_id: video if generation_id == "g" else None  # noqa: E731
    return VideoRoute(lookup, files.read, limit=limit, whole_limit=whole_limit or limit), content


def test_a_video_bigger_than_one_answer_is_refused_without_a_range_and_served_range_by_range(tmp_path: Path) -> None:
    """Without a usable Range a video over the cap is not read whole into memory: 416 with its size and a text
    saying to ask for ranges; ranges then give it back byte for byte, none over the cap."""
    route, content = route_to(tmp_path, SIZE, limit=1024)
    for header in (None, "bytes=0-1,5-9", "items=0-"):
        refused = asyncio.run(route.respond("g", header))
        assert refused.status_code == 416, header
        assert refused.headers["Content-Range"] == f"bytes */{SIZE}"
        assert b"Range: bytes=0-" in refused.body
        assert len(refused.body) < 1024
    received = b""
    while len(received) < SIZE:
        part = asyncio.run(route.respond("g", f"bytes={len(received)}-"))
        assert part.status_code == 206
        assert len(part.body) <= 1024
        received += part.body
    assert received == content


def test_a_video_that_fits_one_answer_is_served_whole_without_a_range(tmp_path: Path) -> None:
    """A video within the cap keeps its plain 200 with every byte."""
    route, content = route_to(tmp_path, SIZE, limit=SIZE)
    whole = asyncio.run(route.respond("g", None))
    assert (whole.status_code, whole.body, whole.headers["Content-Length"]) == (200, content, str(SIZE))


def test_without_a_range_a_video_bigger_than_a_range_answer_but_within_the_whole_cap_comes_whole(
    tmp_path: Path,
) -> None:
    """`curl -o` or "Save as" (no Range) of a video bigger than one range answer still gets every byte."""
    route, content = route_to(tmp_path, SIZE, limit=1024, whole_limit=SIZE)
    whole = asyncio.run(route.respond("g", None))
    assert (whole.status_code, whole.body) == (200, content)
    assert len(asyncio.run(route.respond("g", "bytes=0-")).body) == 1024
