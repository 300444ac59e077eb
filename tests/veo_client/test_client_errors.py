"""The client commands' refusals: usage errors exit 2, an absent or refusing server exits 3."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.relay_process import RelayProcess, client_env, running_relay, veo

NO_SERVER = "no veo-relay server is running (start one with `veo serve`, or pass --url)"
UNKNOWN = "0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00"


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    with running_relay(tmp_path_factory.mktemp("relay")) as process:
        yield process


def test_status_of_an_unknown_id_exits_2_with_the_servers_message(relay: RelayProcess) -> None:
    """not_found is a usage error; people read the message, programs (--json) also the field."""
    result = veo("status", UNKNOWN, data=relay.data)
    as_json = veo("status", UNKNOWN, "--json", data=relay.data)
    assert result.code == as_json.code == 2
    assert result.err.strip() == f"veo: generation {UNKNOWN} not found"
    assert as_json.err.strip() == f"veo: generation {UNKNOWN} not found (field: generation_id)"


def test_status_of_several_ids_shows_those_found_and_exits_2_for_the_rest(relay: RelayProcess) -> None:
    """Known rows are listed; the unknown ids are named."""
    known = veo("submit", "a moth", data=relay.data).out.strip()
    result = veo("status", known, UNKNOWN, "--json", data=relay.data)
    assert result.code == 2
    assert [row["id"] for row in result.json()] == [known]
    assert UNKNOWN in result.err


def test_a_prompt_the_server_refuses_exits_2_in_plain_words(relay: RelayProcess) -> None:
    """bad_message: the server's plain words; the field only with --json."""
    result = veo("submit", "   ", data=relay.data)
    as_json = veo("submit", "   ", "--json", data=relay.data)
    assert result.code == as_json.code == 2
    assert "not all spaces" in result.err
    assert "field" not in result.err
    assert "(field: prompt)" in as_json.err


@pytest.mark.parametrize(
    "args",
    [["status", "not-a-uuid"], ["submit", "x", "--seed", "-1"], ["submit", "x", "--priority", "asap"], ["status"]],
)
def test_bad_arguments_exit_2_before_anything_is_sent(args: list[str], relay: RelayProcess) -> None:
    """Click's own usage errors."""
    result = veo(*args, data=relay.data)
    assert result.code == 2
    assert "Usage:" in result.err


def test_a_wrong_token_exits_3(relay: RelayProcess) -> None:
    """The server refuses the handshake with 401."""
    result = veo("queue", "--token", "not-the-token", data=relay.data)
    assert result.code == 3
    assert "HTTP 401" in result.err


def test_url_and_token_from_the_environment(relay: RelayProcess, tmp_path: Path) -> None:
    """VEO_URL and VEO_TOKEN replace what the data directory holds."""
    env = client_env(VEO_URL=relay.url, VEO_TOKEN=relay.token, VEO_DATA=str(tmp_path))
    result = veo("queue", "--json", data=None, env=env)
    assert result.code == 0, result.err
    assert "budget" in result.json()


def test_without_a_server_the_command_says_how_to_start_one_and_exits_3(tmp_path: Path) -> None:
    """No server.json and no --url."""
    result = veo("queue", data=tmp_path)
    assert result.code == 3
    assert result.err.strip() == f"veo: {NO_SERVER}"


def test_a_server_that_is_gone_exits_3(tmp_path: Path) -> None:
    """Connection refused on the given URL."""
    with socket.socket() as probe:  # bound, never listening: refused, and no one else can take the port meanwhile
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        result = veo("status", UNKNOWN, "--url", f"http://127.0.0.1:{port}", "--token", "t", data=tmp_path)
    assert result.code == 3
    assert "cannot reach veo-relay" in result.err


def test_a_url_that_is_not_an_address_is_a_usage_error(tmp_path: Path) -> None:
    """Exit 2 and the option named."""
    result = veo("queue", "--url", "ftp://somewhere", data=tmp_path)
    assert result.code == 2
    assert "--url" in result.err
