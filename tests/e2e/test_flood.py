"""A flooding connection is warned, left unread and closed, while the other connections are answered.

The relay's flood clock is frozen here, so a bucket never refills: what each client gets is fixed by the
burst and the number of warnings, whatever the machine's speed.
"""

from __future__ import annotations

import json
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import Peer, relay, run
from veo_protocol import QueueStatus, Result

BURST = 20


def frozen() -> float:
    """A flood clock that never moves."""
    return 0.0


async def flood(peer: Peer, count: int) -> None:
    """`count` valid requests as fast as the socket takes them (ids f0, f1, ...), without awaiting replies."""
    try:
        for index in range(count):
            await peer.ws.send(json.dumps({"type": "queue_status", "id": f"f{index}"}))
    except ConnectionClosed:
        pass


def kinds(peer: Peer) -> dict[str, str]:
    """Each reply the peer got, by id: `result` or the error code."""
    return {
        request_id: "result" if isinstance(reply, Result) else str(reply.code)
        for request_id, reply in peer.replies.items()
    }


def test_a_flooder_is_warned_once_and_left_unread_while_another_connection_is_answered(tmp_path: Path) -> None:
    """Past its burst a flooder gets one rate_limited warning and nothing more is read from it; others go on."""

    async def scenario() -> None:
        async with relay(tmp_path, message_burst=BURST, clock=frozen, flood_pause=3600.0) as target:
            flooder = await target.connect()
            await flood(flooder, 200)
            await flooder.until(lambda: len(flooder.replies) > BURST, what="the burst's replies and a warning")
            (left_unread,) = target.server.clients  # answered, so known to the server
            other = await target.connect()
            for _ in range(5):
                await other.ok(QueueStatus)
            assert kinds(flooder) == {f"f{i}": "result" for i in range(BURST)} | {f"f{BURST}": "rate_limited"}
            assert not flooder.closed and not flooder.anonymous_errors
            # Dropped at both ends: the server reads nothing more from it, so it would notice neither a close frame
            # nor the end of the connection, and stopping it would wait out its close timeout.
            assert flooder.ws.transport is not None and left_unread.connection.transport is not None
            flooder.ws.transport.abort()
            left_unread.connection.transport.abort()
            await other.close()

    run(scenario())


def test_a_flooder_still_flooding_after_its_warnings_is_closed_with_1008(tmp_path: Path) -> None:
    """Burst served, one warning per pause (three), then 1008; the rest of its frames are never answered."""

    async def scenario() -> None:
        async with relay(tmp_path, message_burst=BURST, clock=frozen, flood_pause=0.0) as target:
            flooder = await target.connect()
            other = await target.connect()
            await flood(flooder, 200)
            assert await flooder.closed_with() == 1008
            warned = {f"f{i}": "rate_limited" for i in range(BURST, BURST + 3)}
            assert kinds(flooder) == {f"f{i}": "result" for i in range(BURST)} | warned
            await other.ok(QueueStatus)
            await other.close()

    run(scenario())


def test_a_burst_of_requests_is_answered_in_full_however_many_are_in_progress(tmp_path: Path) -> None:
    """Forty requests sent at once (more than are served at a time) all get their own answer, none `overloaded`."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            peer = await target.connect()
            await flood(peer, 40)
            await peer.until(lambda: len(peer.replies) == 40, what="forty replies")
            assert set(kinds(peer).values()) == {"result"}
            assert not peer.anonymous_errors
            await peer.close()

    run(scenario())
