"""A prompt (or any text from the relay) cannot act on the user's terminal: human output shows its control
characters escaped and its brackets literally; `--json` keeps it exact."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from rich.console import Console, RenderableType

from tests.server.relay_process import RelayProcess, client_env, running_relay, veo, watch_until_interrupted
from veo_client.render import history_view, row_lines, transition_line, watch_view
from veo_client.results import BatchRow, HistoryGroup, HistoryPage, HistoryRow
from veo_client.visible import visible

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
PROMPT = f"a fox {TITLE}{CLEAR}[bold]loud[/bold] \u202eevil"
SHOWN = "a fox \\x1b]0;pwned\\x07\\x1b[2J[bold]loud[/bold] \\u202eevil"


def row(**fields: str) -> HistoryRow:
    values = {
        "id": "11111111-2222-3333-4444-555555555555",
        "job_type": "generation",
        "status": "failed",
        "prompt": PROMPT,
        "model": "veo",
        "aspect_ratio": "landscape",
        "priority": "normal",
        "profile_id": "default",
        "error_reason": "PUBLIC_ERROR_X",
        "error_message": f"refused {CLEAR}",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:01:00.000Z",
    }
    values.update(fields)
    return HistoryRow(**values)  # type: ignore[arg-type]


def printed(renderable: RenderableType) -> str:
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(renderable)
    return out.getvalue()


def assert_safe(text: str) -> None:
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text


def test_visible_escapes_control_characters_only() -> None:
    assert visible(PROMPT) == SHOWN
    assert visible("a\nb\tc\x9b") == "a\\x0ab\\x09c\\x9b"
    assert visible("un renard 🦊 [x]") == "un renard 🦊 [x]"


def test_status_history_and_watch_views_show_the_prompt_escaped() -> None:
    """The row's lines (status), the history tables and the watch screen; rich markup in a prompt stays text."""
    bad = row()
    for text in (
        row_lines(bad),
        printed(history_view(page(bad), 400, UTC)),
        printed(watch_view([bad], [batch()], {}, datetime(2026, 1, 1, tzinfo=UTC), 400)),
        transition_line(bad, {}),
    ):
        assert_safe(text)
    assert SHOWN in row_lines(bad)
    assert "[bold]loud[/bold]" in printed(history_view(page(bad), 400, UTC))
    assert "[bold]loud[/bold]" in printed(watch_view([bad], [], {}, datetime(2026, 1, 1, tzinfo=UTC), 400))
    assert "refused \\x1b[2J" in transition_line(bad, {})


def page(item: HistoryRow) -> HistoryPage:
    return HistoryPage(groups=[HistoryGroup(date=f"2026-01-01{CLEAR}", items=[item])], next=f"cursor{TITLE}")


def batch() -> BatchRow:
    return BatchRow(batch_id=f"b{CLEAR}xxxxxxx", total=1, failed=1, created_at="2026", updated_at="2026")


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    with running_relay(tmp_path_factory.mktemp("relay")) as process:
        yield process


def test_the_cli_prints_an_escaped_prompt_escaped_and_json_exact(relay: RelayProcess) -> None:
    """`submit --wait`, `status`, `history` and `watch` against a real relay; `status --json` keeps the bytes."""
    data = relay.data
    submitted = veo("submit", PROMPT, "--wait", data=data)
    assert submitted.code == 0, submitted.err
    assert_safe(submitted.out)
    job = submitted.lines()[0].split()[0]
    exact = veo("status", job, "--json", data=data)
    assert exact.json()["prompt"] == PROMPT
    status = veo("status", job, data=data)
    assert_safe(status.out)
    assert f"prompt: {SHOWN}" in status.out
    history = veo("history", "--limit", "3", data=data, env=client_env(COLUMNS="300"))
    assert_safe(history.out)
    assert "[bold]loud[/bold]" in history.out
    out = watch_until_interrupted(data).out
    assert_safe(out)
    assert "a fox \\x1b]0;pwned" in out
