"""A Gemini API profile beside a Flow profile, end to end: the real server and the simulator's Gemini mode. A
generation on each completes, both videos are kept and served back byte for byte from /videos/ID, and the
key is in no event, frame, row, log line or /metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import UUID

import httpx
import msgspec
import pytest

from actors.profiles import DEFAULT_GEMINI_MODEL
from domain.values import DEFAULT_MODEL
from server.bootstrap import Settings
from tests.e2e.harness import TOKEN, Relay, run, serving, videos_kept
from veo_client.flows import wait_for
from veo_client.options import ClientOptions
from veo_client.relay_client import AUTO_ID, RelayClient
from veo_client.results import Created
from veo_protocol import Channel, Generate, Subscribe
from veo_simulator import Simulator, SimulatorConfig

KEY = "AIzaSyE2E-gemini-secret-key-0123456789"


@asynccontextmanager
async def mixed_relay(tmp_path: Path, simulator: Simulator) -> AsyncIterator[Relay]:
    """A relay with a Flow profile and a Gemini profile, both served by `simulator`."""
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        f'[profiles.flow]\nbearer_token = "ya29.e2e-flow"\nproject_id = "e2e"\nrecaptcha = "off"\nsubmit_gap = 0\n'
        f'[profiles.gem]\nbackend = "gemini"\napi_key = "{KEY}"\nbase_url = "{simulator.url}"\n'
    )
    profiles.chmod(0o600)
    settings = Settings(
        data_dir=tmp_path / "data",
        port=0,
        profiles=profiles,
        flow_url=simulator.url,
        labs_url=simulator.url,
        gemini_first_check=0.2,
    )
    async with serving(settings) as target:
        yield target


def test_a_gemini_and_a_flow_generation_complete_and_their_videos_are_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator = Simulator(SimulatorConfig(lo=0.3, hi=0.6, seed=3, gemini_keys=(KEY,), gemini_rpm=0))
    simulator.start()

    async def scenario() -> None:
        async with mixed_relay(tmp_path, simulator) as target:
            peer = await target.connect()
            await peer.ok(Subscribe, channels=["generation:status"])
            gemini = await peer.ok(Generate, prompt="a heron lands", profile_id="gem", aspect_ratio="portrait")
            flow = await peer.ok(Generate, prompt="a fox runs", profile_id="flow")
            ids = [str(gemini.data["generation_id"]), str(flow.data["generation_id"])]
            await videos_kept(target, *ids)
            await target.settled()
            reader = target.system.db.reader()
            gemini_row, flow_row = (target.system.history.get(reader, i) for i in ids)
            assert gemini_row is not None and flow_row is not None
            assert (gemini_row.status, gemini_row.profile_id, flow_row.status) == ("completed", "gem", "completed")
            assert (gemini_row.model, flow_row.model) == (DEFAULT_GEMINI_MODEL, DEFAULT_MODEL)  # the models used
            assert gemini_row.operation_name is not None and gemini_row.operation_name.startswith("models/")
            assert gemini_row.video_url is not None and "key=" not in gemini_row.video_url
            assert gemini_row.video_sha256 is not None

            async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
                original = await http.get(gemini_row.video_url, headers={"x-goog-api-key": KEY}, follow_redirects=True)
                assert original.status_code == 200 and original.content
                bearer = {"Authorization": f"Bearer {TOKEN}"}
                kept = await http.get(f"{target.http_url}/videos/{ids[0]}", headers=bearer)
                assert (kept.status_code, kept.content) == (200, original.content)
                flow_kept = await http.get(f"{target.http_url}/videos/{ids[1]}", headers=bearer)
                assert flow_kept.status_code == 200 and flow_kept.content
                metrics = (await http.get(f"{target.http_url}/metrics", headers=bearer)).text

            await peer.close()
            frames = [msgspec.json.encode(delta).decode() for frame in peer.frames for delta in frame]
            assert any(ids[0] in frame for frame in frames)
            events = [repr(event) for i in ids for event in target.system.app.events.get(UUID(i))]
            rows = [msgspec.json.encode(row).decode() for row in (gemini_row, flow_row)]
            for text in (*frames, *events, *rows, metrics, caplog.text):
                assert KEY not in text

    try:
        run(scenario())
    finally:
        simulator.stop()
    audit = simulator.audit()["gemini"]
    (key,) = audit["keys"].values()
    assert (key["predict_calls"], key["downloads"]) == (1, 2)  # the relay's download, and the test's own


def test_a_wait_for_a_gemini_job_names_the_relays_copy_not_the_url_that_needs_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`veo submit --wait` ended with the Gemini API's download URL, which no one can open without the key."""
    simulator = Simulator(SimulatorConfig(lo=0.1, hi=0.2, seed=5, gemini_keys=(KEY,), gemini_rpm=0))
    simulator.start()

    async def scenario() -> tuple[UUID, int]:
        async with mixed_relay(tmp_path, simulator) as target:
            options = ClientOptions(target.http_url, TOKEN, tmp_path, as_json=False)
            async with RelayClient(target.http_url, TOKEN) as client:
                await client.subscribe([Channel.GENERATION_STATUS])
                made = await client.fetch(Generate(id=AUTO_ID, prompt="a heron lands", profile_id="gem"), Created)
                return made.generation_id, await wait_for(client, options, [made.generation_id])

    try:
        generation_id, code = run(scenario())
    finally:
        simulator.stop()
    printed = capsys.readouterr().out
    assert code == 0
    last = printed.splitlines()[-1].split()
    assert (last[0], last[1], " ".join(last[4:])) == (
        str(generation_id),
        "done",
        f"kept by the relay: veo get {last[0][:8]}",
    )
    assert ":download" not in printed
