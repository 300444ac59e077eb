"""What every client command shares: where the relay is (`--url`, `--token`, `--data`), `--json`, the options
of a new generation, and running a command's work with the errors mapped to exit codes (`veo_client.exits`)."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

from domain.values import MAX_SEED, AspectRatio, Priority
from veo_client.exits import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, say_why
from veo_client.ids import IdNotResolved
from veo_client.relay_client import ClientError, RelayClient, RelayError, RelayUnavailable
from veo_protocol.local_server import default_data_dir, read_client_defaults

__all__ = [
    "NO_SERVER",
    "ClientOptions",
    "client_options",
    "generation_options",
    "relay_options",
    "run",
]

logger = logging.getLogger(__name__)

USAGE_ERRORS = frozenset({"bad_json", "bad_message", "not_found", "conflict"})
NO_SERVER = "no veo-relay server is running (start one with `veo serve`, or pass --url)"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class ClientOptions:
    """Where the relay is, how to authenticate, and whether to print JSON."""

    url: str | None
    token: str | None
    data_dir: Path | None
    as_json: bool

    def client(self) -> RelayClient:
        """A client for the given or the local relay (RelayUnavailable when there is none)."""

        local_url, local_token = read_client_defaults((self.data_dir or default_data_dir()).expanduser())
        url = self.url or local_url
        if url is None:
            raise RelayUnavailable(NO_SERVER)
        token = self.token
        if token is None and (self.url is None or urlsplit(_with_scheme(url)).hostname in _LOOPBACK):
            token = local_token  # the local server's token is never sent to a remote address
        try:
            return RelayClient(url, token)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--url") from None


def _with_scheme(url: str) -> str:
    return url if "://" in url else "ws://" + url


_WHERE = [
    click.option(
        "--url",
        envvar="VEO_URL",
        show_envvar=True,
        default=None,
        help="Relay address (default: the local `veo serve`).",
    ),
    click.option(
        "--token", envvar="VEO_TOKEN", show_envvar=True, default=None, help="Client token (default: the local one)."
    ),
    click.option(
        "--data",
        "data_dir",
        envvar="VEO_DATA",
        show_envvar=True,
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory of the local `veo serve` (default: the user data directory).",
    ),
]
"""Where the relay is: `--url`, `--token`, `--data`."""


def _decorated(command: Callable[..., None], decorators: list[Callable[[Any], Any]]) -> Callable[..., None]:
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def client_options(func: Callable[..., None]) -> Callable[..., None]:
    """`--url`, `--token`, `--data` and `--json`, handed to the command as one ClientOptions."""

    @functools.wraps(func)
    def command(
        *args: Any, url: str | None, token: str | None, data_dir: Path | None, as_json: bool, **kw: Any
    ) -> None:
        func(ClientOptions(url, token, data_dir, as_json), *args, **kw)

    json_flag = click.option("--json", "as_json", is_flag=True, help="Print the result's data as JSON.")
    return _decorated(command, [*_WHERE, json_flag])


def relay_options(func: Callable[..., None]) -> Callable[..., None]:
    """`--url`, `--token` and `--data` as one ClientOptions, for a command that prints no result (no `--json`)."""

    @functools.wraps(func)
    def command(*args: Any, url: str | None, token: str | None, data_dir: Path | None, **kw: Any) -> None:
        func(ClientOptions(url, token, data_dir, as_json=False), *args, **kw)

    return _decorated(command, _WHERE)


def generation_options(func: Callable[..., None]) -> Callable[..., None]:
    """The options of a new generation: model, aspect ratio, seed, priority, profile, request key."""
    decorators = [
        click.option("--model", default=None, help="Flow model key (default: the server's)."),
        click.option(
            "--aspect-ratio",
            type=click.Choice([a.value for a in AspectRatio]),
            default=None,
            help="The video's shape (default: landscape).",
        ),
        click.option("--seed", type=click.IntRange(0, MAX_SEED), default=None, help="Seed (default: random)."),
        click.option(
            "--priority",
            type=click.Choice([p.value for p in Priority]),
            default=None,
            help="How urgently it is served (default: normal).",
        ),
        click.option("--profile", default=None, help="Profile id (default: the server's default profile)."),
        click.option("--request-key", default=None, help="Idempotency key: a repeated key is not paid twice."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def run(
    options: ClientOptions, work: Callable[[RelayClient], Awaitable[int]], *, interrupted: int | None = None
) -> NoReturn:
    """Connect, do the work, and exit with its code (errors mapped to the exit codes above).

    A refusal is said in the relay's words; the field it names is added with `--json` only.
    """

    async def main() -> int:
        async with options.client() as client:
            return await work(client)

    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        code = interrupted
    except RelayError as exc:
        say_why(str(exc) if options.as_json else exc.message)  # the field is for programs
        code = EXIT_USAGE if exc.code in USAGE_ERRORS else EXIT_FAILED
    except IdNotResolved as exc:
        say_why(str(exc))
        code = EXIT_USAGE
    except RelayUnavailable as exc:
        say_why(str(exc))
        code = EXIT_UNAVAILABLE
    except ClientError as exc:
        say_why(str(exc))
        code = EXIT_FAILED
    sys.exit(code)
