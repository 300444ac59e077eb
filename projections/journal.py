"""The delta journal: row changes by store position, stored as pages of deltas (one table row per page).

A page holds the deltas of whole positions from one applied run of events, at most `PAGE_DELTAS` of them,
msgpack-encoded and zlib-compressed (rows repeat their field names and most values); its key is its last
position (pages never overlap, so keys only grow). The live runner applies a few events at a time and
writes a small page each time; a rebuild writes few large ones, which costs a fraction of one row per
delta. Readers see the same deltas either way: `deltas_after` filters
and cuts them exactly as a row per delta would.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

import msgspec

from projections.dialect import Column, Connection, Dialect

__all__ = ["PAGE_DELTAS", "Delta", "Entry", "deltas_after", "journal_table", "prune", "write_pages"]

logger = logging.getLogger(__name__)

PAGE_DELTAS = 256
"""A page closes at the first position boundary once it holds this many deltas."""
COLUMNS: tuple[Column, ...] = (
    ("last_position", "integer"),
    ("first_position", "integer"),
    ("deltas", "integer"),
    ("recorded_at", "text"),
    ("data", "blob"),
)
Entry = tuple[int, str, bytes]
"""A delta as a page stores it: (position, channel, data)."""
_PACK = msgspec.msgpack.Encoder().encode
_UNPACK = msgspec.msgpack.Decoder(list[tuple[int, str, bytes]]).decode
_LEVEL = 1
"""zlib's fastest level: it already shrinks a page of rows several times."""
_FIRST_READ = 16
"""Pages read by the first query of `deltas_after`; each further query reads four times as many."""


def _encode(entries: list[Entry]) -> bytes:
    return zlib.compress(_PACK(entries), _LEVEL)


def _decode(data: bytes) -> list[Entry]:
    return _UNPACK(zlib.decompress(data))


@dataclass(frozen=True, slots=True)
class Delta:
    """One row change at one store position; `data` is the row, JSON-encoded once."""

    position: int
    channel: str
    data: bytes


def journal_table(table: str, dialect: Dialect) -> str:
    """The CREATE TABLE statement of a journal table."""
    integer = dialect.integer
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (last_position {integer} PRIMARY KEY, "
        f"first_position {integer} NOT NULL, deltas {integer} NOT NULL, recorded_at TEXT NOT NULL, "
        f"data {dialect.blob} NOT NULL)"
    )


def write_pages(conn: Connection, table: str, deltas: list[Entry], times: list[str]) -> None:
    """Insert `deltas` (position order; `times[i]` is when the i-th was recorded) as pages, in the caller's transaction.

    The deltas of one position always share a page.
    """
    pages: list[tuple[int, int, int, str, bytes]] = []
    start, count = 0, len(deltas)
    while start < count:
        end = min(start + PAGE_DELTAS, count)
        while end < count and deltas[end][0] == deltas[end - 1][0]:
            end += 1
        page = deltas[start:end]
        pages.append((page[-1][0], page[0][0], end - start, max(times[start:end]), _encode(page)))
        start = end
    conn.dialect.upsert_rows(conn, table, COLUMNS, "last_position", pages)


def deltas_after(conn: Connection, table: str, position: int, limit: int) -> list[Delta]:
    """Up to `limit` deltas with positions > `position`, in order.

    When `limit` is reached, the last position's deltas are left for the next call (unless they are all
    there is), so a caller never gets part of a position: the same cut as a journal of one row per delta.
    """
    found: list[Delta] = []
    after = position
    batch = max(1, min(limit, _FIRST_READ))
    while len(found) < limit:
        pages = conn.execute(
            f"SELECT last_position, data FROM {table} WHERE last_position > ? ORDER BY last_position LIMIT ?",
            (after, batch),
        ).fetchall()
        for _, data in pages:
            found.extend(Delta(p, c, d) for p, c, d in _decode(data) if p > position)
            if len(found) >= limit:  # the cut below needs nothing beyond: leave the other pages undecoded
                break
        if len(pages) < batch:
            break
        after = pages[-1][0]
        batch = min(batch * 4, limit)
    if len(found) >= limit and found:
        found = found[:limit]
        last = found[-1].position
        found = [d for d in found if d.position != last] or found
    return found


def prune(conn: Connection, table: str, older_than: str, keep_last: int) -> tuple[int, int]:
    """Delete deltas recorded before `older_than` that are not among the last `keep_last`.

    Returns (deltas deleted, the position at or below which none remain; 0 when nothing was deleted).
    A page's time is its newest delta's, so a page is old only once all its deltas are.
    """
    boundary = conn.execute(
        f"SELECT last_position, first_position, deltas, recorded_at, data, total FROM (SELECT *, "
        f"SUM(deltas) OVER (ORDER BY last_position DESC) AS total FROM {table}) AS newest "
        "WHERE total > ? AND total - deltas <= ?",
        (keep_last, keep_last),
    ).fetchone()
    if boundary is None:
        return 0, 0
    last, _, count, recorded_at, data, total = boundary
    total = int(total)  # PostgreSQL's SUM of BIGINT is NUMERIC
    if recorded_at < older_than:  # the newest delta beyond the last `keep_last` is in this page, and old
        entries = _decode(data)
        doomed = entries[count - (keep_last - (total - count)) - 1][0]
    else:
        doomed = conn.execute(
            f"SELECT MAX(last_position) FROM {table} WHERE last_position < ? AND recorded_at < ?",
            (last, older_than),
        ).fetchone()[0]
        if doomed is None:
            return 0, 0
    deleted = conn.execute(f"SELECT COALESCE(SUM(deltas), 0) FROM {table} WHERE last_position <= ?", (doomed,))
    removed = int(deleted.fetchone()[0])
    conn.execute(f"DELETE FROM {table} WHERE last_position <= ?", (doomed,))
    cut = conn.execute(
        f"SELECT last_position, data FROM {table} WHERE first_position <= ? ORDER BY last_position LIMIT 1", (doomed,)
    ).fetchone()
    if cut is not None:  # the page holding `doomed` keeps its later positions only
        entries = _decode(cut[1])
        kept = [entry for entry in entries if entry[0] > doomed]
        conn.execute(
            f"UPDATE {table} SET first_position = ?, deltas = ?, data = ? WHERE last_position = ?",
            (kept[0][0], len(kept), _encode(kept), cut[0]),
        )
        removed += len(entries) - len(kept)
    return removed, doomed
