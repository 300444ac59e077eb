"""get_history's filters over the wire: search, status and days in the request's zone, with the cursor."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from domain.requests import GenerationSpec
from tests.e2e.harness import Peer, relay, run
from veo_protocol import ErrorCode, ErrorReply, GetHistory

EAST, WEST = "Pacific/Kiritimati", "Etc/GMT+12"  # UTC+14 and UTC-12: a moment's dates there always differ


async def prompts(peer: Peer, **fields: Any) -> list[str]:
    data = (await peer.ok(GetHistory, **fields)).data
    return [row["prompt"] for group in data["groups"] for row in group["items"]]


def test_filters_narrow_the_whole_history_and_page_with_the_cursor(tmp_path: Path) -> None:
    """Search and status read every stored row, not one page; days are whole days in `tz`."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            target.system.app.request_batch([GenerationSpec(prompt=f"filler {n}") for n in range(60)])
            target.system.app.request_generation(GenerationSpec(prompt="An Old Lighthouse"))
            target.system.app.request_batch([GenerationSpec(prompt=f"filler {n}") for n in range(60, 120)])
            await target.settled()
            peer = await target.connect()
            assert await prompts(peer, search="old LIGHT", limit=5) == ["An Old Lighthouse"]
            first = await peer.ok(GetHistory, search="filler 1", limit=5)  # filler 1, 10-19, 100-119: 31 rows
            rows = [r for g in first.data["groups"] for r in g["items"]]
            assert len(rows) == 5 and first.data["next"] is not None
            rest = await prompts(peer, search="filler 1", limit=500, before=first.data["next"])
            assert len(rows) + len(rest) == 31
            assert await prompts(peer, status="failed") == []

            created = (await peer.ok(GetHistory, limit=1)).data["groups"][0]["items"][0]["created_at"]
            moment = datetime.fromisoformat(created)
            east_day = moment.astimezone(ZoneInfo(EAST)).date().isoformat()
            west_day = moment.astimezone(ZoneInfo(WEST)).date().isoformat()
            assert await prompts(peer, search="lighthouse", since=east_day, until=east_day, tz=EAST)
            assert await prompts(peer, search="lighthouse", since=east_day, tz=WEST) == []
            assert await prompts(peer, search="lighthouse", until=west_day, tz=WEST)
            assert await prompts(peer, search="lighthouse", until=west_day, tz=EAST) == []

            reply = await peer.request(GetHistory, since=east_day, until=west_day)
            assert isinstance(reply, ErrorReply)
            assert (reply.code, reply.field) == (ErrorCode.BAD_MESSAGE, "until")
            assert "is before since" in reply.message
            await peer.close()

    run(scenario())
