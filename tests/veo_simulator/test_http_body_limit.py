"""The simulator refuses an over-long Content-Length at once, without reading (or waiting for) the body."""

from __future__ import annotations

import json
import socket

from tests.veo_simulator.conftest import StartSim
from tests.veo_simulator.payloads import GENERATE
from veo_simulator.httpd import MAX_BODY_BYTES


def test_an_over_long_content_length_gets_413_without_the_body_being_read(start_sim: StartSim) -> None:
    """A client announcing a terabyte and sending nothing more gets 413 (today's code waited for the bytes)."""
    sim = start_sim()
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as conn:
        conn.sendall(
            f"POST {GENERATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10**12}\r\n\r\n{{".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert str(MAX_BODY_BYTES) in json.loads(body)["error"]["message"]
    assert sim.audit()["operations"] == []
