"""RelayClient against a scripted websocket server: replies by id, flattened deltas, errors, losses, snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from uuid import UUID

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection, serve

from projections.rows import HistoryRow
from veo_client.relay_client import AUTO_ID, RelayClient, RelayError, RelayUnavailable, websocket_url
from veo_client.results import HistoryRow as ClientRow
from veo_protocol import (
    ErrorCode,
    GetStatus,
    GetStatuses,
    QueueStatus,
    Subscribe,
    decode_request,
    encode_captcha_request,
    encode_delta,
    encode_deltas,
    encode_error,
    encode_result,
)

JOB = UUID("0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00")
OTHER = "11111111-2222-4333-8444-555555555555"
STAMP = "2026-01-01T00:00:00.000Z"
Handler = Callable[[ServerConnection], Awaitable[None]]


def row(status: str, generation_id: str = str(JOB)) -> HistoryRow:
    return HistoryRow(
        id=generation_id,
        job_type="generation",
        status=status,
        prompt="a fox",
        model="veo_3_1_t2v_fast",
        aspect_ratio="landscape",
        priority="normal",
        profile_id="default",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
    )


def delta(position: int, status: str, generation_id: str = str(JOB)) -> bytes:
    return encode_delta("generation:status", position, msgspec.json.encode(row(status, generation_id)))


@asynccontextmanager
async def scripted(handler: Handler, token: str = "t") -> AsyncIterator[RelayClient]:
    """A loopback server running `handler` per connection, and a client connected to it."""
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with RelayClient(f"http://127.0.0.1:{port}", token, request_timeout=5) as client:
            yield client


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/ws"),
        ("https://relay.example/", "wss://relay.example/ws"),
        ("ws://127.0.0.1:9/ws", "ws://127.0.0.1:9/ws"),
        ("localhost:8765", "ws://localhost:8765/ws"),
    ],
)
def test_addresses_become_the_websocket_url(given: str, expected: str) -> None:
    """http(s), ws(s) and bare host:port all lead to /ws."""
    assert websocket_url(given) == expected


@pytest.mark.parametrize("given", ["ftp://x", "http://", ""])
def test_an_address_without_a_host_or_with_another_scheme_is_refused(given: str) -> None:
    """ValueError names it."""
    with pytest.raises(ValueError, match="relay address"):
        websocket_url(given)


def test_replies_are_matched_by_id_and_deltas_frames_are_flattened_in_order() -> None:
    """Two requests in flight answered out of order; a deltas frame yields its deltas one by one."""

    async def handler(connection: ServerConnection) -> None:
        first = decode_request(await connection.recv())
        second = decode_request(await connection.recv())
        await connection.send(encode_captcha_request("c1", "default", "VIDEO_GENERATION").decode())
        await connection.send("not json")
        await connection.send(encode_result(second.id, {"which": "second"}, 2).decode())
        await connection.send(encode_deltas([delta(3, "pending"), delta(4, "processing")]).decode())
        await connection.send(encode_result(first.id, {"which": "first"}, 1).decode())
        await connection.wait_closed()

    async def main() -> None:
        async with scripted(handler) as client:
            first = asyncio.create_task(client.call(QueueStatus(id=AUTO_ID)))
            await asyncio.sleep(0)
            second = await client.call(QueueStatus(id=AUTO_ID))
            assert (second.data, second.position) == ({"which": "second"}, 2)
            assert (await first).data == {"which": "first"}
            assert [(d.position, d.data["status"]) for d in [await client.next_delta(), await client.next_delta()]] == [
                (3, "pending"),
                (4, "processing"),
            ]

    asyncio.run(main())


def test_an_error_reply_raises_relay_error_with_code_message_and_field() -> None:
    """The server's words are kept."""

    async def handler(connection: ServerConnection) -> None:
        request = decode_request(await connection.recv())
        await connection.send(encode_error(request.id, ErrorCode.NOT_FOUND, "no such job", "generation_id").decode())
        await connection.wait_closed()

    async def main() -> None:
        async with scripted(handler) as client:
            with pytest.raises(RelayError) as caught:
                await client.request(GetStatus(id=AUTO_ID, generation_id=JOB))
            assert (caught.value.code, caught.value.message, caught.value.field) == (
                "not_found",
                "no such job",
                "generation_id",
            )
            assert str(caught.value) == "no such job (field: generation_id)"

    asyncio.run(main())


def test_an_error_without_an_id_fails_the_request_in_flight() -> None:
    """rate_limited / overloaded cannot name the request: the one waiting gets it rather than waiting forever."""

    async def handler(connection: ServerConnection) -> None:
        await connection.recv()
        await connection.send(encode_error(None, ErrorCode.OVERLOADED, "too many requests in progress").decode())
        await connection.wait_closed()

    async def main() -> None:
        async with scripted(handler) as client:
            with pytest.raises(RelayError, match="too many requests") as caught:
                await client.request(QueueStatus(id=AUTO_ID))
            assert caught.value.code == "overloaded"

    asyncio.run(main())


def test_a_lost_connection_fails_the_request_and_ends_the_deltas() -> None:
    """RelayUnavailable names the close code, for a request in flight and for every later delta read."""

    async def handler(connection: ServerConnection) -> None:
        await connection.recv()
        await connection.send(delta(1, "pending").decode())
        await connection.close(1013, "too far behind")

    async def main() -> None:
        async with scripted(handler) as client:
            with pytest.raises(RelayUnavailable, match="1013"):
                await client.request(QueueStatus(id=AUTO_ID))
            assert (await client.next_delta()).position == 1
            with pytest.raises(RelayUnavailable, match="too far behind"):
                await client.next_delta()
            with pytest.raises(RelayUnavailable):
                await client.next_delta()

    asyncio.run(main())


def test_a_refused_handshake_is_relay_unavailable_naming_401() -> None:
    """A server that answers 401 before the upgrade."""

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async def main() -> None:
        def refuse(connection: ServerConnection, request: object) -> object:
            return connection.respond(401, "missing or wrong token\n")

        async with serve(handler, "127.0.0.1", 0, process_request=refuse) as server:  # type: ignore[arg-type]
            port = next(iter(server.sockets)).getsockname()[1]
            with pytest.raises(RelayUnavailable, match="HTTP 401"):
                await RelayClient(f"127.0.0.1:{port}", "wrong").open()

    asyncio.run(main())


def test_wait_for_jobs_starts_from_the_snapshot_and_skips_older_or_foreign_deltas() -> None:
    """Deltas at or below the snapshot's position, and other jobs' deltas, change nothing; it ends when terminal."""

    async def handler(connection: ServerConnection) -> None:
        subscribe = decode_request(await connection.recv())
        assert isinstance(subscribe, Subscribe)
        await connection.send(
            encode_result(
                subscribe.id, {"channels": ["generation:status"], "position": 3, "resumed": False}, 3
            ).decode()
        )
        statuses = decode_request(await connection.recv())
        assert isinstance(statuses, GetStatuses)
        await connection.send(encode_result(statuses.id, [row("pending")], 5).decode())
        for frame in (
            delta(4, "completed"),
            delta(5, "completed"),
            delta(6, "failed", OTHER),
            delta(7, "processing"),
            delta(8, "completed"),
        ):
            await connection.send(frame.decode())
        await connection.wait_closed()

    async def main() -> list[tuple[str, str]]:
        async with scripted(handler) as client:
            await client.subscribe(["generation:status"])
            return [(r.id, r.status) for r in [r async for r in client.wait_for_jobs([JOB])]]

    assert asyncio.run(main()) == [(str(JOB), "pending"), (str(JOB), "processing"), (str(JOB), "completed")]


def finished(position: int, generation_id: str, **changes: object) -> bytes:
    """A delta of a completed row with its backend's video URL, and `changes` (the stored copy, a later time)."""
    done = msgspec.structs.replace(row("completed", generation_id), video_url=f"https://video.test/{generation_id}")
    return encode_delta("generation:status", position, msgspec.json.encode(msgspec.structs.replace(done, **changes)))


def followed(
    frames: list[bytes], kept_within: float, keep_videos: bool | None = True
) -> list[tuple[str, str | None, str]]:
    """(id, video_stored_at, updated_at) of each row `wait_for_jobs([JOB, OTHER])` yields after the snapshot, from a
    relay whose `queue_status` says `keep_videos` (None: says nothing of it)."""

    async def handler(connection: ServerConnection) -> None:
        subscribe = decode_request(await connection.recv())
        assert isinstance(subscribe, Subscribe)
        await connection.send(
            encode_result(subscribe.id, {"channels": [], "position": 1, "resumed": False}, 1).decode()
        )
        statuses = decode_request(await connection.recv())
        assert isinstance(statuses, GetStatuses)
        await connection.send(encode_result(statuses.id, [row("pending"), row("pending", OTHER)], 1).decode())
        for frame in frames:
            await connection.send(frame.decode())
        async for message in connection:
            request = decode_request(message)
            assert isinstance(request, QueueStatus)
            data = {"queued": 0} | ({} if keep_videos is None else {"keep_videos": keep_videos})
            await connection.send(encode_result(request.id, data, 1).decode())

    async def main() -> list[tuple[str, str | None, str]]:
        async with scripted(handler) as client:
            await client.subscribe(["generation:status"])
            waiting = client.wait_for_jobs([JOB, OTHER], kept_within=kept_within)
            rows = await asyncio.wait_for(_all(waiting), 10.0)
            return [(r.id, r.video_stored_at, r.updated_at) for r in rows[2:]]

    return asyncio.run(main())


def test_a_completed_job_is_followed_until_the_relay_kept_its_video_or_failed_to() -> None:
    """Past completion each job is followed until its row changes once more: the copy stored (JOB), or the
    download given up (OTHER: a later time, no copy); nothing after that is read."""
    job, other, stored, later = str(JOB), OTHER, "2026-01-01T00:00:01.000Z", "2026-01-01T00:05:00.000Z"
    frames = [
        finished(2, job),
        finished(3, other),
        finished(4, job, video_stored_at=stored, video_sha256="ab" * 32, video_bytes=9),
        finished(5, other, updated_at=later),
        finished(6, other, video_stored_at=stored),
    ]
    assert followed(frames, kept_within=60.0) == [
        (job, None, STAMP),
        (other, None, STAMP),
        (job, stored, STAMP),
        (other, None, later),
    ]


async def _all(rows: AsyncIterator[ClientRow]) -> list[ClientRow]:
    return [row async for row in rows]


def test_a_relay_that_keeps_no_videos_is_not_waited_for() -> None:
    """`queue_status.keep_videos` false: the completed rows are final at once, however long `kept_within` is."""
    frames = [finished(2, str(JOB)), finished(3, OTHER)]
    assert followed(frames, kept_within=60.0, keep_videos=False) == [(str(JOB), None, STAMP), (OTHER, None, STAMP)]


def test_a_relay_that_does_not_say_is_waited_for_as_one_that_keeps_videos() -> None:
    """An older relay without the field: the wait for the copy goes on until `kept_within`."""
    frames = [finished(2, str(JOB)), finished(3, OTHER)]
    assert followed(frames, kept_within=0.01, keep_videos=None) == [(str(JOB), None, STAMP), (OTHER, None, STAMP)]


def test_without_a_copy_the_wait_ends_after_kept_within() -> None:
    """A relay that keeps no videos sends nothing more: the completed rows are final once `kept_within` passed."""
    assert followed([finished(2, str(JOB)), finished(3, OTHER)], kept_within=0.01) == [
        (str(JOB), None, STAMP),
        (OTHER, None, STAMP),
    ]
