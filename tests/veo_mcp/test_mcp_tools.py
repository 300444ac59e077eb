"""`veo mcp` against a real relay (simulated Flow, fast jobs), driven over stdio by the MCP SDK's client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp import Client

from tests.server.relay_process import RelayProcess, running_relay
from tests.veo_mcp.mcp_process import Sessions, everything_said, structured, text_of

TOOLS = {
    "generate_video",
    "generate_videos",
    "get_generation",
    "list_generations",
    "cancel_generation",
    "retry_generation",
    "upscale_video",
    "queue_status",
}


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    with running_relay(tmp_path_factory.mktemp("relay")) as process:
        yield process


@pytest.fixture(scope="module")
def session(relay: RelayProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sessions]:
    sessions = Sessions(relay.data, tmp_path_factory.mktemp("mcp"))
    yield sessions
    sessions.close()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_the_tools_are_listed_with_input_and_output_schemas(session: Sessions, mode: str) -> None:
    """Every tool has a description, a typed input schema and an output schema, for new and older hosts alike."""

    async def scenario(client: Client) -> None:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.description
            assert tool.input_schema["type"] == "object"
            assert tool.output_schema is not None
        generate = tools["generate_video"].input_schema
        assert generate["required"] == ["prompt"]
        assert set(generate["properties"]) == {"prompt", "aspect_ratio", "model", "seed", "profile_id", "wait"}
        assert generate["properties"]["seed"]["anyOf"][0]["maximum"] == 2**31 - 1
        assert tools["generate_videos"].input_schema["properties"]["prompts"]["type"] == "array"
        assert tools["get_generation"].input_schema["properties"]["id"]["format"] == "uuid"

    session(mode).run(scenario)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_generate_with_wait_reports_progress_and_answers_the_final_row(session: Sessions, mode: str) -> None:
    """Progress notifications rise with each status change up to the total; the result is the completed row (for
    new and older hosts alike)."""
    notes: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, total, message))

    async def scenario(client: Client) -> None:
        result = await client.call_tool(
            "generate_video",
            {"prompt": "a red fox in fresh snow", "aspect_ratio": "portrait", "seed": 7, "wait": True},
            progress_callback=on_progress,
        )
        data = structured(result)
        [row] = data["generations"]
        assert data["finished"] is True
        assert data["generation_ids"] == [row["id"]]
        assert (row["status"], row["prompt"], row["aspect_ratio"], row["seed"]) == (
            "completed",
            "a red fox in fresh snow",
            "portrait",
            7,
        )
        assert row["id"] in text_of(result)
        assert "completed" in text_of(result)
        again = structured(await client.call_tool("get_generation", {"id": row["id"]}))
        assert again["status"] == "completed"

    session(mode).run(scenario)
    values = [progress for progress, _, _ in notes]
    assert values == sorted(set(values)), "each notification reports more progress than the one before"
    assert values[0] == 0
    assert values[-1] == notes[-1][1] == 2
    assert "completed" in (notes[-1][2] or "")


def test_a_batch_with_wait_ends_with_every_row_in_prompt_order(session: Sessions) -> None:
    """generate_videos makes a batch; with wait the result holds each job's final row."""
    totals: set[float | None] = set()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        totals.add(total)

    async def scenario(client: Client) -> None:
        prompts = ["shot one: a door opens", "shot two: a hallway", "shot three: a window"]
        result = await client.call_tool(
            "generate_videos", {"prompts": prompts, "wait": True}, progress_callback=on_progress
        )
        data = structured(result)
        assert data["batch_id"]
        assert [row["prompt"] for row in data["generations"]] == prompts
        assert [row["id"] for row in data["generations"]] == data["generation_ids"]
        assert {row["status"] for row in data["generations"]} == {"completed"}
        assert {row["batch_id"] for row in data["generations"]} == {data["batch_id"]}

    session().run(scenario)
    assert totals == {6}


def test_history_is_listed_newest_first_and_filtered_by_status(relay: RelayProcess, session: Sessions) -> None:
    """list_generations reads history pages; `status` keeps one status; the token is never in a result."""

    async def scenario(client: Client) -> None:
        made = structured(await client.call_tool("generate_video", {"prompt": "history: a lake", "wait": True}))
        newest = structured(await client.call_tool("list_generations", {"limit": 1}))
        assert [row["id"] for row in newest["generations"]] == made["generation_ids"]
        assert newest["next"]
        older = structured(await client.call_tool("list_generations", {"limit": 1, "before": newest["next"]}))
        assert older["generations"][0]["id"] != made["generation_ids"][0]
        completed = await client.call_tool("list_generations", {"status": "completed", "limit": 500})
        assert {row["status"] for row in structured(completed)["generations"]} == {"completed"}
        assert made["generation_ids"][0] in {row["id"] for row in structured(completed)["generations"]}
        none_cancelled = structured(await client.call_tool("list_generations", {"status": "failed"}))
        assert none_cancelled == {"generations": [], "next": None}
        queue = await client.call_tool("queue_status", {})
        assert structured(queue)["queued"] >= 0
        assert relay.token not in everything_said(completed) + everything_said(queue)

    session().run(scenario)
    assert relay.token not in session().errlog.read_text()


def test_an_unknown_id_is_a_tool_error_that_says_what_to_do(session: Sessions) -> None:
    """A generation the relay does not know: an error result pointing at list_generations, no stack trace."""

    async def scenario(client: Client) -> None:
        result = await client.call_tool("get_generation", {"id": "0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00"})
        assert result.is_error
        assert "not found" in text_of(result)
        assert "list_generations" in text_of(result)
        assert "Traceback" not in text_of(result)

    session().run(scenario)


def test_a_completed_video_is_upscaled_with_wait(session: Sessions) -> None:
    """upscale_video makes an upscale job of a completed generation and, with wait, answers its final row."""

    async def scenario(client: Client) -> None:
        made = structured(await client.call_tool("generate_video", {"prompt": "upscale me", "wait": True}))
        source = made["generation_ids"][0]
        result = await client.call_tool("upscale_video", {"id": source, "resolution": "4k", "wait": True})
        [row] = structured(result)["generations"]
        assert (row["job_type"], row["status"], row["source_generation_id"]) == ("upscale", "completed", source)

    session().run(scenario)
