"""The CLI's log levels never let websockets quote frames (which carry tokens and cookies)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from veo_cli.main import cli


@pytest.fixture
def websockets_logger() -> Iterator[logging.Logger]:
    target = logging.getLogger("websockets")
    level = target.level
    yield target
    target.setLevel(level)


def test_debug_output_keeps_websockets_frame_dumps_out(websockets_logger: logging.Logger) -> None:
    """At -vv the relay logs debug lines, but websockets' own stop at info: its debug lines quote frames."""
    result = CliRunner().invoke(cli, ["-vv", "replay", "--help"])
    assert result.exit_code == 0, result.output
    assert not websockets_logger.isEnabledFor(logging.DEBUG)
    assert websockets_logger.isEnabledFor(logging.INFO)
