"""The history read model: generation rows, batch rows and the delta journal, with their queries.

Every call of `process` applies a run of events in ONE write transaction together with the view's
tracking position, so each event is applied exactly once even across crashes (positions at or below the
tracked one are skipped). Each changed row also becomes a delta in the journal, at the event's position
(the journal stores them in pages: `projections/journal.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from domain.values import Channel, JobType
from projections.dialect import Column, Connection, Dialect
from projections.events import ViewEvent
from projections.journal import Delta, Entry, deltas_after, journal_table, prune, write_pages
from projections.rows import BATCH_COLUMNS, HISTORY_COLUMNS, BatchRow, HistoryRow, apply_event, iso_ms
from projections.tracking import TrackedView

__all__ = ["Delta", "HistoryFilter", "HistoryView", "channel_for"]

logger = logging.getLogger(__name__)

_ENCODE = msgspec.json.Encoder().encode
_CHUNK = 500
_INTEGERS = {
    "seed",
    "video_bytes",
    "seq",
    "total",
    "pending",
    "processing",
    "completed",
    "failed",
    "cancelled",
    "key",
    "position",
}
_ROW_COLUMNS: tuple[Column, ...] = tuple(
    (name, "integer" if name in _INTEGERS else "text") for name in (*HISTORY_COLUMNS, "seq")
)
_BATCH_COLUMNS: tuple[Column, ...] = tuple((name, "integer" if name in _INTEGERS else "text") for name in BATCH_COLUMNS)


@dataclass(frozen=True, kw_only=True)
class HistoryFilter:
    """Which rows a history page keeps: prompt holding `search` (any case), one `status`, and `created_at` in
    [`created_from`, `created_before`) (row-time strings, as `iso_ms` writes them); None keeps every row."""

    search: str | None = None
    status: str | None = None
    created_from: str | None = None
    created_before: str | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions (the same on SQLite and PostgreSQL) and their parameters."""
        conditions: list[str] = []
        parameters: list[Any] = []
        if self.search is not None:
            escaped = self.search.replace("!", "!!").replace("%", "!%").replace("_", "!_")
            # The database folds both sides (PostgreSQL's LIKE minds case); SQLite's lower() folds ASCII only.
            conditions.append("lower(prompt) LIKE lower(?) ESCAPE '!'")
            parameters.append(f"%{escaped}%")
        if self.status is not None:
            conditions.append("status = ?")
            parameters.append(self.status)
        if self.created_from is not None:
            conditions.append("created_at >= ?")
            parameters.append(self.created_from)
        if self.created_before is not None:
            conditions.append("created_at < ?")
            parameters.append(self.created_before)
        return conditions, parameters


def channel_for(row: HistoryRow) -> str:
    """The channel a generation row's deltas travel on."""
    return Channel.UPSCALE_STATUS if row.job_type == JobType.UPSCALE else Channel.GENERATION_STATUS


class HistoryView(TrackedView):
    """`veo3_video_generations`, `veo3_batches` and `delta_journal` (tables may carry a build-aside suffix)."""

    name = "history"
    base_tables = ("veo3_video_generations", "veo3_batches", "delta_journal")
    schema = 5
    # 2: rows carry seq, the position of their Requested event (restore order); 3: journal pages;
    # 4: a cancellation's status is `cancelled`, and batch rows count them; 5: the kept video's columns
    indexes = (("by_created", 0, "created_at, id"), ("by_status", 0, "status"), ("by_batch", 0, "batch_id"))

    def table_statements(self, dialect: Dialect) -> list[str]:
        rows, batches, journal = self.tables
        integer = dialect.integer
        cols = ", ".join(f"{c} {integer if c in _INTEGERS else 'TEXT'}" for c in HISTORY_COLUMNS if c != "id")
        return [
            f"CREATE TABLE IF NOT EXISTS {rows} (id TEXT PRIMARY KEY, {cols}, seq {integer} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {batches} (batch_id TEXT PRIMARY KEY, total {integer}, "
            f"pending {integer}, processing {integer}, completed {integer}, failed {integer}, "
            f"cancelled {integer}, created_at TEXT, updated_at TEXT)",
            journal_table(journal, dialect),
        ]

    # --- writing ------------------------------------------------------------------------------------

    def apply(self, conn: Connection, items: Sequence[ViewEvent], journal_after: int) -> None:
        """Apply events (position order) inside the caller's transaction; journal positions > journal_after."""
        rows_table, batches_table, journal_name = self.tables
        rows = self._load_rows(conn, {item.generation_id for item in items})  # every one of them is changed below
        seqs: dict[str, int] = {}
        batches: dict[str, BatchRow] = {}  # only the batches changed
        journal: list[Entry] = []
        times: list[str] = []
        add_delta, add_time, encode = journal.append, times.append, _ENCODE
        for item in items:
            key, position, at = item.generation_id, item.position, item.at
            before = rows.get(key)
            before_status = before.status if before is not None else None
            row = apply_event(before, item.kind, item.data, at, key)
            if before is None:
                seqs[key] = position
                if row.batch_id is not None:  # a batch is requested at one moment, though its events' clocks tick
                    row.created_at = self._batch(conn, batches, row.batch_id, at).created_at
            rows[key] = row
            keep = position > journal_after
            if keep:
                add_delta((position, channel_for(row), encode(row)))
                add_time(at)
            if row.batch_id is not None and before_status != row.status:
                batch = batches.get(row.batch_id) or self._batch(conn, batches, row.batch_id, at)
                if before_status is None:  # a Requested: the batch's size is known from its first item
                    size = getattr(item.data, "batch_size", None)
                    batch.total = size if size else batch.total + 1
                else:
                    setattr(batch, before_status, getattr(batch, before_status) - 1)
                setattr(batch, row.status, getattr(batch, row.status) + 1)
                batch.updated_at = at
                if keep:
                    add_delta((position, Channel.BATCH_PROGRESS, encode(batch)))
                    add_time(at)
        upsert = conn.dialect.upsert_rows
        astuple = msgspec.structs.astuple
        row_values = [(*astuple(row), seqs.get(key, 0)) for key, row in rows.items()]
        upsert(conn, rows_table, _ROW_COLUMNS, "id", row_values, keep=("seq",))  # seq: set once, by Requested
        upsert(conn, batches_table, _BATCH_COLUMNS, "batch_id", [astuple(batch) for batch in batches.values()])
        write_pages(conn, journal_name, journal, times)

    def _load_rows(self, conn: Connection, ids: Iterable[str]) -> dict[str, HistoryRow]:
        wanted = list(ids)
        found: dict[str, HistoryRow] = {}
        for start in range(0, len(wanted), _CHUNK):
            condition, parameters = conn.dialect.any_of("id", wanted[start : start + _CHUNK])
            cursor = conn.execute(
                f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {self.tables[0]} WHERE {condition}", parameters
            )
            for values in cursor:
                row = _history_row(values)
                found[row.id] = row
        return found

    def _batch(self, conn: Connection, cache: dict[str, BatchRow], batch_id: str, at: str) -> BatchRow:
        batch = cache.get(batch_id)
        if batch is None:
            values = conn.execute(
                f"SELECT {', '.join(BATCH_COLUMNS)} FROM {self.tables[1]} WHERE batch_id = ?", (batch_id,)
            ).fetchone()
            batch = _batch_row(values) if values else BatchRow(batch_id=batch_id, created_at=at, updated_at=at)
            cache[batch_id] = batch
        return batch

    def prune_journal(self, conn: Connection, older_than: str, keep_last: int) -> int:
        """Delete journal deltas recorded before `older_than` that are not among the last `keep_last`."""
        deleted, through = prune(conn, self.tables[2], older_than, keep_last)
        if deleted:
            self.set_pruned_through(conn, through)
        return deleted

    # --- reading ------------------------------------------------------------------------------------

    def get(self, conn: Connection, generation_id: str) -> HistoryRow | None:
        """One row, or None."""
        found = self._load_rows(conn, [generation_id])
        return found.get(generation_id)

    def get_many(self, conn: Connection, generation_ids: Sequence[str]) -> list[HistoryRow]:
        """The rows found, in the order asked (unknown ids are absent)."""
        found = self._load_rows(conn, dict.fromkeys(generation_ids))
        return [found[i] for i in generation_ids if i in found]

    def page(
        self, conn: Connection, limit: int, before: tuple[str, str] | None, only: HistoryFilter | None = None
    ) -> list[HistoryRow]:
        """Newest first, `limit` rows strictly before the (created_at, id) cursor (and kept by `only`)."""
        return list(self.iter_page(conn, limit, before, only))

    def iter_page(
        self, conn: Connection, limit: int, before: tuple[str, str] | None, only: HistoryFilter | None = None
    ) -> Iterator[HistoryRow]:
        """`page`'s rows one at a time, as the cursor yields them (a reader that stops early reads no more)."""
        conditions, parameters = only.where() if only is not None else ([], [])
        if before is not None:
            conditions.append("(created_at, id) < (?, ?)")
            parameters.extend(before)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        cursor = conn.execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {self.tables[0]} {where}"
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (*parameters, limit),
        )
        return (_history_row(values) for values in cursor)

    def non_terminal(self, conn: Connection) -> list[HistoryRow]:
        """Every pending or processing generation, oldest first (what the poller restores; never a terminal one)."""
        cursor = conn.execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {self.tables[0]} "
            "WHERE status IN ('pending', 'processing') ORDER BY seq"
        )
        return [_history_row(values) for values in cursor]

    def videos_to_keep(self, conn: Connection) -> list[HistoryRow]:
        """Completed generations with a video URL and no stored file yet, oldest first (what the keeper restores)."""
        cursor = conn.execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {self.tables[0]} "
            "WHERE status = 'completed' AND video_url IS NOT NULL AND video_sha256 IS NULL ORDER BY seq"
        )
        return [_history_row(values) for values in cursor]

    def batch(self, conn: Connection, batch_id: str) -> BatchRow | None:
        """One batch's progress, or None."""
        values = conn.execute(
            f"SELECT {', '.join(BATCH_COLUMNS)} FROM {self.tables[1]} WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return _batch_row(values) if values else None

    def deltas_after(self, conn: Connection, position: int, limit: int) -> list[Delta]:
        """Journal deltas with positions > `position`, in order (whole positions only)."""
        return deltas_after(conn, self.tables[2], position, limit)

    def counts(self, conn: Connection) -> dict[str, int]:
        """Generations by status."""
        cursor = conn.execute(f"SELECT status, COUNT(*) FROM {self.tables[0]} GROUP BY status")
        return dict(cursor)


def _history_row(values: Sequence[Any]) -> HistoryRow:
    return HistoryRow(**dict(zip(HISTORY_COLUMNS, values, strict=True)))


def _batch_row(values: Sequence[Any]) -> BatchRow:
    return BatchRow(**dict(zip(BATCH_COLUMNS, values, strict=True)))


__all__ += ["iso_ms"]
