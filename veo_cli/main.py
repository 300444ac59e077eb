"""The `veo` command: every subcommand is listed here, once, and imported only when it runs.

A client command (`veo status`) loads the client package alone, never the server, the actors or the
simulator: the table names each command's module, and `veo --help` reads the short help from it.
"""

from __future__ import annotations

import importlib
import logging
from typing import NamedTuple

import click

__all__ = ["COMMANDS", "cli", "main"]

logger = logging.getLogger(__name__)


class Entry(NamedTuple):
    """Where a subcommand is defined, and its one-line help for `veo --help`."""

    module: str
    attribute: str
    short_help: str


_CLIENT = "veo_client.commands"
COMMANDS: dict[str, Entry] = {
    "serve": Entry(
        "veo_cli.serve", "serve", "Run the relay: event store, projections, PollerActor and the websocket server."
    ),
    "simulator": Entry(
        "veo_cli.serve", "simulator", "Run the Flow simulator on loopback (`veo simulator --help` for its options)."
    ),
    "submit": Entry(_CLIENT, "submit", "Generate one video from PROMPT; prints its generation id."),
    "batch": Entry(
        _CLIENT,
        "batch",
        "Generate one video per line of FILE (`-` for stdin; blank lines are skipped), with a progress bar.",
    ),
    "status": Entry(_CLIENT, "status", "Show generations' rows (exit 2 when any id is unknown)."),
    "history": Entry(_CLIENT, "history", "Recent generations, newest first, grouped by day."),
    "watch": Entry(
        _CLIENT,
        "watch",
        "A live table of jobs and batches, updated in place (--json: JSON Lines of deltas); Ctrl-C ends it.",
    ),
    "refresh": Entry(
        _CLIENT, "refresh", "Check a job's status with its service now (through the request budget) and show its row."
    ),
    "cancel": Entry(_CLIENT, "cancel", "Cancel a job that is not finished (exit 2 when it already is)."),
    "retry": Entry(_CLIENT, "retry", "Make a new generation with a failed one's parameters; prints the new id."),
    "upscale": Entry(_CLIENT, "upscale", "Upscale a completed generation's video; prints the upscale's generation id."),
    "get": Entry(
        "veo_client.download", "get", "Save a finished video the relay kept to FILE (exit 2 when it is not stored yet)."
    ),
    "queue": Entry(_CLIENT, "queue", "The relay's queue, request budget and paused profiles."),
    "mcp": Entry(
        "veo_mcp.command",
        "mcp",
        "Serve the relay's tools to AI assistants over MCP (stdio): generate, follow, list, cancel, upscale.",
    ),
    "replay": Entry(
        "veo_cli.store_tools",
        "replay",
        "Print the event timeline of one generation, or of the whole store; --at shows past state.",
    ),
    "rebuild": Entry(
        "veo_cli.store_tools",
        "rebuild",
        "Rebuild read models from position 0 (built aside, swapped in atomically; safe while serving).",
    ),
    "migrate": Entry(
        "veo_cli.migrate",
        "migrate_command",
        "Copy the SQLite event store (events and positions) to PostgreSQL, verify it, build its read models.",
    ),
}


class CommandTable(click.Group):
    """A group whose commands are the entries of `COMMANDS`, each imported when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = getattr(importlib.import_module(entry.module), entry.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.module}.{entry.attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name].short_help) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=CommandTable, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="veo-relay", prog_name="veo")
def cli(verbose: int) -> None:
    """veo-relay: drive Veo 3 generations on Google Flow or the Gemini API under a strict request budget."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # websockets' debug lines quote the start of every frame, reCAPTCHA tokens and session cookies included
    logging.getLogger("websockets").setLevel(max(level, logging.INFO))


def main() -> None:
    """Console entry point."""
    cli(prog_name="veo")
