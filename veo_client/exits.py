"""The `veo` command's exit codes (CONTRACT §5) and how a command stops with one.

0 success; 1 a job failed (with --wait), the server failed the request, or a command failed at run time;
2 usage error (bad arguments, a missing or corrupt store, or the server refused the request as malformed,
unknown or conflicting); 3 server unreachable or refused.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_UNAVAILABLE", "EXIT_USAGE", "fail", "say_why"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


def say_why(message: str) -> None:
    """Print `veo: message` to stderr, as every `veo` command does when it refuses or fails."""
    click.echo(f"veo: {message}", err=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Say why and exit with `code`."""
    say_why(message)
    sys.exit(code)
