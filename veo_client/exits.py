"""The `veo` command's exit codes (CONTRACT §5) and how a command stops with one.

0 success; 1 a job failed (with --wait), the server failed the request, or a command failed at run time;
2 usage error (bad arguments, a missing or corrupt store, or the server refused the request as malformed,
unknown or conflicting); 3 server unreachable or refused; 4 a job was cancelled (with --wait, none failed).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NoReturn

import click

from domain.values import Status
from veo_client.visible import visible_lines

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "exit_for_statuses",
    "fail",
    "say_why",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_CANCELLED = 4


def exit_for_statuses(statuses: Iterable[str]) -> int:
    """The exit code of waited-for jobs: 1 when any failed, else 4 when any was cancelled, else 0."""
    seen = set(statuses)
    if Status.FAILED in seen:
        return EXIT_FAILED
    return EXIT_CANCELLED if Status.CANCELLED in seen else EXIT_OK


def say_why(message: str) -> None:
    """Print `veo: message` to stderr, as every `veo` command does when it refuses or fails."""
    click.echo(f"veo: {visible_lines(message)}", err=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Say why and exit with `code`."""
    say_why(message)
    sys.exit(code)
