"""RelayClient reads a `get_statuses` reply larger than the 1 MiB other frames keep to."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import msgspec
from websockets.asyncio.server import ServerConnection, serve

from projections.rows import HistoryRow
from server.protocol import MAX_FRAME_BYTES, MAX_STATUS_IDS, GetStatuses, decode_request, encode_result
from server.relay_client import AUTO_ID, RelayClient
from tests.server.test_client_relay_client import row

LONGEST_PROMPT = "é" * 10_000  # two UTF-8 bytes a character


def long_row(generation_id: str) -> HistoryRow:
    return msgspec.structs.replace(row("pending", generation_id), prompt=LONGEST_PROMPT)


def test_a_get_statuses_reply_of_a_thousand_long_rows_reaches_the_client() -> None:
    """1,000 rows with 10,000-character prompts (about 20 MB in one frame) arrive whole."""
    ids = [str(uuid4()) for _ in range(MAX_STATUS_IDS)]
    sent: list[int] = []

    async def handler(connection: ServerConnection) -> None:
        request = decode_request(await connection.recv())
        assert isinstance(request, GetStatuses)
        reply = encode_result(request.id, msgspec.json.encode([long_row(i) for i in ids]), 7)
        sent.append(len(reply))
        await connection.send(reply, text=True)
        await connection.wait_closed()

    async def main() -> list[str]:
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with RelayClient(f"http://127.0.0.1:{port}", "t", request_timeout=10) as client:
                rows = await client.request(GetStatuses(id=AUTO_ID, generation_ids=[UUID(i) for i in ids]))
        return [row["id"] for row in rows]

    assert asyncio.run(main()) == ids
    assert sent[0] > 16 * MAX_FRAME_BYTES
