"""The tools' published shapes stay true to the relay's rows and to docs/MCP.md; errors never carry the token."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import msgspec

from veo_client.options import ClientOptions
from veo_client.relay_client import RelayError
from veo_client.results import HistoryRow
from veo_mcp.link import RelayLink, relay_error_text
from veo_mcp.results import Generation
from veo_mcp.tools import build_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "MCP.md"


def test_a_generation_has_exactly_the_fields_of_the_history_row() -> None:
    """The output schema's generation is the relay's history row, field for field, plus the kept video's address."""
    fields = [field.name for field in msgspec.structs.fields(HistoryRow)]
    assert list(Generation.model_fields) == [
        *fields[: fields.index("video_stored_at") + 1],
        "kept_video_url",
        *fields[fields.index("video_stored_at") + 1 :],
    ]


def test_docs_list_every_tool_in_their_table() -> None:
    """docs/MCP.md's tool table has one row per tool the server lists."""
    server = build_server(RelayLink(ClientOptions(None, None, None, as_json=False)))
    names = {tool.name for tool in asyncio.run(server.list_tools())}
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC.read_text(), flags=re.MULTILINE))
    assert documented == names


def test_an_address_query_and_a_given_token_are_cut_from_what_is_said() -> None:
    """A `?token=` in a relay address and the token given with --token never reach a tool error."""
    link = RelayLink(ClientOptions("ws://relay.example:8765/ws?token=s3cret", "s3cret", None, as_json=False))
    said = link.redact("cannot reach veo-relay at ws://relay.example:8765/ws?token=s3cret: refused (s3cret)")
    assert said == "cannot reach veo-relay at ws://relay.example:8765/ws: refused (***)"


def test_a_busy_relay_says_to_wait_and_call_again() -> None:
    """rate_limited and overloaded both tell the model to wait a few seconds before calling again."""
    for code in ("rate_limited", "overloaded"):
        assert "Wait a few seconds" in relay_error_text(RelayError(code, "slow down"))
