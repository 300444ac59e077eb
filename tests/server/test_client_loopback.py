"""A client's deltas over a real websockets connection on loopback: a reader that falls behind gets them coalesced."""

from __future__ import annotations

import asyncio
import socket

import msgspec
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from server.client import MAX_COALESCED_BYTES, Bundle, Client
from veo_protocol import encode_delta

CHANNEL = "generation:status"
DELTAS = 600
PAD = 2_000
"""600 deltas of ~2 KB: 1.2 MB, more than the small socket buffers and the reader's queue of one frame can hold,
so the server's writer must wait for the reader at some point while deltas keep coming."""
BUFFER = 4_096


def test_a_client_that_reads_slowly_gets_every_position_in_order_in_deltas_frames() -> None:
    """Deltas pushed while the reader does not read arrive, once it reads, as `deltas` frames holding every
    position once and in order; fewer frames than deltas, none over the coalescing limit."""

    async def scenario() -> None:
        accepted: asyncio.Future[Client] = asyncio.get_running_loop().create_future()

        async def handler(connection: ServerConnection) -> None:
            connection.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
            client = Client(connection)
            client.start()
            accepted.set_result(client)
            try:
                await connection.wait_closed()
            finally:
                await client.stop()

        async with serve(handler, "127.0.0.1", 0, compression=None, write_limit=BUFFER) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)  # before connecting: no autotuning
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)
            async with connect(f"ws://127.0.0.1:{port}", sock=sock, compression=None, max_queue=1) as reader:
                client = await asyncio.wait_for(accepted, 10.0)
                for position in range(1, DELTAS + 1):  # one a turn of the loop, the reader not reading
                    client.push(Bundle.of([encode_delta(CHANNEL, position, b'{"pad":"%s"}' % (b"x" * PAD))]))
                    await asyncio.sleep(0)
                assert not client.closing
                frames: list[list[int]] = []
                async with asyncio.timeout(30):
                    while sum(len(f) for f in frames) < DELTAS:
                        message = await reader.recv(decode=False)
                        assert len(message) <= MAX_COALESCED_BYTES + 1_000
                        decoded = msgspec.json.decode(message)
                        deltas = decoded["deltas"] if decoded["type"] == "deltas" else [decoded]
                        frames.append([d["position"] for d in deltas])
        assert [p for frame in frames for p in frame] == list(range(1, DELTAS + 1))
        assert len(frames) < DELTAS
        assert any(len(frame) > 1 for frame in frames)

    asyncio.run(scenario())
