"""The `veo` command's table: every subcommand is listed once, and a client command loads only the client."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from veo_cli.main import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_listed_command_exists_and_its_help_line_is_its_docstrings_first(name: str) -> None:
    """`veo --help` shows the table's line without importing the command: it must say what the command says."""
    entry = COMMANDS[name]
    command = getattr(importlib.import_module(entry.module), entry.attribute)
    assert isinstance(command, click.Command)
    assert (command.help or "").strip().splitlines()[0] == entry.short_help


def test_help_lists_every_command_and_an_unknown_one_is_a_usage_error() -> None:
    """`veo --help` names every command; `veo nonsense` exits 2 naming it."""
    runner = CliRunner()
    shown = runner.invoke(cli, ["--help"])
    assert shown.exit_code == 0
    assert all(f"  {name} " in shown.output for name in COMMANDS)
    unknown = runner.invoke(cli, ["nonsense"])
    assert unknown.exit_code == 2
    assert "nonsense" in unknown.output


def test_a_client_command_loads_neither_the_server_nor_the_read_models() -> None:
    """`veo status ...` imports the client package and the protocol only: it starts fast, apart from the server."""
    probe = (
        "import sys\n"
        "from veo_cli.main import cli\n"
        "cli.get_command(None, 'status')\n"
        "heavy = ('server', 'actors', 'projections', 'veo_simulator', 'eventsourcing', 'pykka')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_version_names_the_installed_package() -> None:
    """`veo --version` prints the version the package was installed as."""
    shown = CliRunner().invoke(cli, ["--version"])
    assert shown.exit_code == 0
    assert shown.output.strip() == f"veo, version {version('veo-relay')}"


def test_the_readme_table_lists_every_command() -> None:
    """Each `veo` subcommand has a row in the README's command table."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [name for name in COMMANDS if f"| `veo {name}" not in readme]
    assert missing == []
