"""The client's own row types read every field the read model writes (CONTRACT §2)."""

from __future__ import annotations

import msgspec

from projections import rows as server_rows
from veo_client import results as client_rows
from veo_client.exits import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, exit_for_statuses


def test_the_client_history_row_has_the_read_models_fields_in_order() -> None:
    """A field the server adds to the history row must be added to the client's too, or clients drop it."""
    assert client_rows.HistoryRow.__struct_fields__ == server_rows.HistoryRow.__struct_fields__


def test_the_client_batch_row_has_the_read_models_fields_in_order() -> None:
    """Likewise for the batch row."""
    assert client_rows.BatchRow.__struct_fields__ == server_rows.BatchRow.__struct_fields__


def test_a_row_the_server_encodes_decodes_unchanged_on_the_client() -> None:
    """What the projection encodes, the client reads back field for field."""
    row = server_rows.HistoryRow(
        id="g1",
        job_type="generation",
        status="failed",
        prompt="a red fox",
        model="veo_3_1_t2v_fast",
        aspect_ratio="landscape",
        seed=7,
        priority="normal",
        profile_id="default",
        error_reason="timeout",
        error_message="took too long",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:01:00.000Z",
    )
    decoded = msgspec.json.decode(msgspec.json.encode(row), type=client_rows.HistoryRow)
    assert msgspec.to_builtins(decoded) == msgspec.to_builtins(row)


def test_cancelled_is_terminal_and_waited_jobs_exit_by_their_worst_outcome() -> None:
    """`--wait` stops on cancelled; a failure wins (1) over a cancellation (4), which wins over success (0)."""
    assert client_rows.is_terminal_status("cancelled")
    assert not client_rows.is_terminal_status("processing")
    assert exit_for_statuses(["completed", "cancelled", "failed"]) == EXIT_FAILED
    assert exit_for_statuses(["completed", "cancelled"]) == EXIT_CANCELLED
    assert exit_for_statuses(["completed"]) == EXIT_OK
