"""`GET /videos/{generation_id}`: a kept video, whole or one byte range, read off the event loop from the video
store (files or database chunks: `actors.video_store`).

websockets' HTTP hook (`process_request`) can only answer with a body in one piece (a `Response` holds bytes;
there is no streaming), so no answer carries more than `MAX_CHUNK` bytes: a range gets at most that many (an
open-ended `bytes=N-` as a `<video>` element sends it, or a larger explicit range, gets the first `MAX_CHUNK`
bytes and a Content-Range saying so), and `veo get` downloads in such chunks. A request without a usable Range
(`curl -o`, a browser's "Save as") gets the whole file up to `MAX_WHOLE`, which holds a Veo video at 1080p and
most upscales; a bigger file is refused (416 with `Content-Range: bytes */SIZE` and a text saying to ask for
ranges) rather than read whole into memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from websockets.datastructures import Headers
from websockets.http11 import Response

__all__ = ["MAX_CHUNK", "MAX_WHOLE", "StoredVideo", "VideoRoute", "parse_range"]

logger = logging.getLogger(__name__)

MAX_CHUNK = 8 * 1024 * 1024
"""The most bytes one range answer carries."""
MAX_WHOLE = 64 * 1024 * 1024
"""The biggest video answered whole to a request without a Range (one answer in memory at a time per request)."""
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_REASONS = {200: "OK", 206: "Partial Content", 404: "Not Found", 416: "Range Not Satisfiable"}
_WHOLE_TOO_BIG = (
    "this video is {size:,} bytes; the relay answers at most {limit:,} bytes at once: ask for byte ranges "
    "(Range: bytes=0-, then from where the answer ended), as a <video> element, curl -r and `veo get` do\n"
)


@dataclass(frozen=True)
class StoredVideo:
    """Which kept video a generation has, and what it is."""

    sha256: str
    size: int
    content_type: str


def parse_range(header: str | None, size: int, limit: int = MAX_CHUNK) -> tuple[int, int] | bool | None:
    """The (first, last) byte positions a single-range header asks for, capped at `limit` bytes; None for no
    usable Range (absent, malformed or several ranges: the whole file is meant); False when unsatisfiable."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:  # bytes=-N: the last N bytes
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            return False
        first, last = max(size - suffix, 0), size - 1
    else:
        first = int(match[1])
        if match[2] and int(match[2]) < first:
            return None
        if first >= size:
            return False
        last = min(int(match[2]), size - 1) if match[2] else size - 1
    return first, min(last, first + limit - 1)


def _answer(status: int, body: bytes, content_type: str, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "private, no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Accept-Ranges", "bytes"),
            *extra,
        ]
    )
    return Response(status, _REASONS.get(status, ""), headers, body)


class VideoRoute:
    """Answers an authorized `/videos/ID` request; `lookup` finds the video and `read(sha256, first, length)`
    reads its bytes (both blocking, run in worker threads); a range answer carries at most `limit` bytes of
    video, a whole one at most `whole_limit`."""

    def __init__(
        self,
        lookup: Callable[[str], StoredVideo | None],
        read: Callable[[str, int, int], bytes],
        *,
        limit: int = MAX_CHUNK,
        whole_limit: int = MAX_WHOLE,
    ) -> None:
        self.lookup = lookup
        self.read = read
        self.limit = limit
        self.whole_limit = whole_limit

    async def respond(self, generation_id: str, range_header: str | None) -> Response:
        """The video, one range of it (206), 416 for a range past its end, or 404 when not stored (yet)."""
        video = await asyncio.to_thread(self.lookup, generation_id)
        if video is None:
            return _answer(404, b"no stored video for this id (unknown, or not stored yet)\n", "text/plain")
        wanted = parse_range(range_header, video.size, self.limit)
        if wanted is False:
            return _answer(416, b"", "text/plain", (("Content-Range", f"bytes */{video.size}"),))
        if wanted is None and video.size > self.whole_limit:
            text = _WHOLE_TOO_BIG.format(size=video.size, limit=self.whole_limit).encode()
            return _answer(416, text, "text/plain; charset=utf-8", (("Content-Range", f"bytes */{video.size}"),))
        first, last = wanted if isinstance(wanted, tuple) else (0, video.size - 1)
        try:
            body = await asyncio.to_thread(self.read, video.sha256, first, last - first + 1)
        except OSError as exc:
            logger.error("cannot read the kept video %s of %s: %s", video.sha256, generation_id, exc)
            return _answer(404, b"the stored video cannot be read\n", "text/plain")
        if wanted is None:
            return _answer(200, body, video.content_type)
        return _answer(206, body, video.content_type, (("Content-Range", f"bytes {first}-{last}/{video.size}"),))
