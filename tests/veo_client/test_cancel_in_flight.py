"""A cancel that meets its job mid-submission: the relay accepts it and answers the row still pending (it records
the cancel when the submission's answer arrives), so `veo cancel` and the MCP tool must not imply it is done."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from websockets.sync.server import ServerConnection, serve

from tests.veo_client.test_client_relay_client import JOB, row
from veo_cli.main import cli
from veo_client.options import ClientOptions
from veo_mcp.link import RelayLink
from veo_mcp.tools import RelayTools
from veo_protocol import Cancel, ErrorCode, decode_request, encode_error, encode_result

REQUESTED = "cancel requested; the submission in flight will be cancelled when its answer arrives"
TOKEN = "scripted-relay-token"


def answer(status: str) -> dict[str, object]:
    """The row a relay answers a cancel with: `pending` while the submission is in flight."""
    cancelled = status == "cancelled"
    answered = msgspec.structs.replace(row(status), error_reason="cancelled" if cancelled else None)
    result: dict[str, object] = msgspec.to_builtins(answered)
    return result


@pytest.fixture(params=["pending", "cancelled"])
def relay(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A relay that answers `cancel` with a row of the given status: (its address, that status)."""
    status: str = request.param

    def handler(connection: ServerConnection) -> None:
        for frame in connection:
            message = decode_request(frame)
            if isinstance(message, Cancel):
                connection.send(encode_result(message.id, answer(status), 7).decode())
            else:
                connection.send(encode_error(message.id, ErrorCode.BAD_MESSAGE, "not scripted").decode())

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.socket.getsockname()[1]}", status
        server.shutdown()
        thread.join(timeout=10)


def test_veo_cancel_says_a_cancel_of_a_submission_in_flight_is_only_requested(
    relay: tuple[str, str], tmp_path: Path
) -> None:
    """The row is printed as answered (the JSON stays exact); a pending one gets the plain note on stderr."""
    url, status = relay
    for flags in ([], ["--json"]):
        result = CliRunner().invoke(
            cli, ["cancel", str(JOB), "--url", url, "--token", TOKEN, "--data", str(tmp_path), *flags]
        )
        assert result.exit_code == 0, result.output
        if status == "pending":
            assert f"veo: {REQUESTED}" in result.stderr
        else:
            assert result.stderr == ""
    assert msgspec.json.decode(result.stdout)["status"] == status


def test_the_mcp_cancel_tool_says_so_too(relay: tuple[str, str], tmp_path: Path) -> None:
    url, status = relay
    tools = RelayTools(RelayLink(ClientOptions(url, TOKEN, tmp_path, as_json=False)))
    result = asyncio.run(tools.cancel_generation(JOB))
    text = result.content[0].text  # type: ignore[union-attr]
    assert (REQUESTED in text) == (status == "pending")
    assert result.structured_content is not None and result.structured_content["status"] == status
