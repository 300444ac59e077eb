"""`get_statuses` keeps to the 1 MiB frame limit: too many long rows are refused, and RelayClient asks in parts."""

from __future__ import annotations

from pathlib import Path

from domain.requests import GenerationSpec
from tests.e2e.harness import relay, run
from veo_client.relay_client import RelayClient
from veo_protocol import ErrorCode, ErrorReply, GetStatuses

PROMPT = "y" * 9_000  # 200 rows of this come to about 2 MB of JSON


def test_rows_that_would_not_fit_one_frame_are_refused_and_the_client_asks_in_parts(tmp_path: Path) -> None:
    """A raw client with a 1 MiB limit gets a clear error naming generation_ids; RelayClient gets every row."""

    async def scenario() -> None:
        async with relay(tmp_path) as target:
            _, made, _ = target.system.app.request_batch([GenerationSpec(prompt=f"{i} {PROMPT}") for i in range(200)])
            ids = [str(i) for i in made]
            await target.settled()
            peer = await target.connect(max_size=2**20)  # a frame over 1 MiB would close this connection (1009)
            refused = await peer.request(GetStatuses, generation_ids=ids)
            assert isinstance(refused, ErrorReply)
            assert (refused.code, refused.field) == (ErrorCode.BAD_MESSAGE, "generation_ids")
            assert "do not fit one reply frame" in refused.message
            assert "ask for at most" in refused.message
            few = await peer.ok(GetStatuses, generation_ids=ids[:50])
            assert [row["id"] for row in few.data] == ids[:50]
            await peer.close()
            async with RelayClient(target.http_url, target.token) as client:
                groups = [(group, rows) async for group, rows, _ in client.statuses([*ids, *ids[:3]])]
            assert len(groups) > 1
            assert [i for group, _ in groups for i in group] == [*ids, *ids[:3]]
            assert [row.id for _, rows in groups for row in rows] == [*ids, *ids[:3]]

    run(scenario())
