"""Generation ids as people type them: a full UUID, or a unique prefix such as the 8 characters tables show.

The protocol has no prefix search, so a prefix is looked up in the relay's history (`get_history`, page by
page, newest first); a full UUID is taken as it is, without any lookup.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import click

from veo_client.relay_client import AUTO_ID, ClientError, RelayClient, convert_data
from veo_client.results import HistoryPage, HistoryRow
from veo_client.words import status_word
from veo_protocol import GetHistory

__all__ = ["CANDIDATES_SHOWN", "GENERATION_ID", "GenerationRef", "IdNotResolved", "resolve_ids"]

logger = logging.getLogger(__name__)

CANDIDATES_SHOWN = 10
"""An ambiguous prefix lists at most this many of the generations it matches."""
_PAGE = 500
_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]{0,35}")


class IdNotResolved(ClientError):
    """A prefix that matches no generation, or more than one (a usage error: the message says which)."""


class GenerationRef(click.ParamType[UUID | str, Any]):
    """A command-line id: a full UUID (taken as it is) or the lower-case start of one (looked up later)."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> UUID | str:
        if isinstance(value, UUID):
            return value
        text = str(value).strip().lower()
        if len(text) >= 32:
            with contextlib.suppress(ValueError):
                return UUID(text)
        if not _PREFIX.fullmatch(text):
            self.fail(
                f"{value!r} is not a generation id or the start of one (hex digits, such as 3f0c9a2e)", param, ctx
            )
        return text


GENERATION_ID = GenerationRef()
"""The click type of every argument that names a generation."""


async def resolve_ids(client: RelayClient, refs: Sequence[UUID | str]) -> list[UUID]:
    """The generation ids `refs` name, in order; IdNotResolved for a prefix that is unknown or ambiguous."""
    prefixes = {ref for ref in refs if isinstance(ref, str)}
    matches = await _matches(client, prefixes) if prefixes else {}
    return [ref if isinstance(ref, UUID) else _one(ref, matches[ref]) for ref in refs]


async def _matches(client: RelayClient, prefixes: set[str]) -> dict[str, list[HistoryRow]]:
    """The history rows whose id starts with each prefix (scanning stops early once every prefix is ambiguous)."""
    found: dict[str, list[HistoryRow]] = {prefix: [] for prefix in prefixes}
    before: str | None = None
    while True:
        data = await client.request(GetHistory(id=AUTO_ID, limit=_PAGE, before=before, tz="UTC"))
        page = convert_data(data, HistoryPage, "get_history")
        for row in (row for group in page.groups for row in group.items):
            for prefix in prefixes:
                if row.id.startswith(prefix):
                    found[prefix].append(row)
        if page.next is None or all(len(rows) > CANDIDATES_SHOWN for rows in found.values()):
            return found
        before = page.next


def _one(prefix: str, rows: list[HistoryRow]) -> UUID:
    if not rows:
        raise IdNotResolved(f"no generation id starts with {prefix!r}")
    if len(rows) == 1:
        return UUID(rows[0].id)
    count = str(len(rows)) if len(rows) <= CANDIDATES_SHOWN else f"more than {CANDIDATES_SHOWN}"
    lines = [f"{prefix!r} is the start of {count} generation ids; give more of the id:"]
    lines += [f"  {row.id}  {status_word(row):<9}  {_start(row.prompt)}" for row in rows[:CANDIDATES_SHOWN]]
    raise IdNotResolved("\n".join(lines))


def _start(prompt: str, width: int = 50) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= width else line[: width - 3] + "..."
