"""How `/videos/ID` reads a Range header: single ranges, suffixes, the cap per answer, and what is ignored."""

from __future__ import annotations

import pytest

from server.video_route import MAX_CHUNK, parse_range

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
