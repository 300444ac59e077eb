// The page's copy of the history: rows with the position they were read at, paging, and batches.

export const CHANNELS = ["generation:status", "upscale:status", "batch:progress"];

/** Newest first: the server's order, (created_at, id) descending. */
export function newerFirst(a, b) {
  if (a.created_at !== b.created_at) return a.created_at > b.created_at ? -1 : 1;
  if (a.id === b.id) return 0;
  return a.id > b.id ? -1 : 1;
}

function parseCursor(text) {
  const bar = text.indexOf("|");
  return { created_at: text.slice(0, bar), id: text.slice(bar + 1) };
}

/**
 * Rows keyed by id, each with the position it reflects. A delta replaces a row only if it is not older
 * than what the page holds, so a snapshot read and a delta stream can overlap in any order. Rows older
 * than the paging cursor are left out until their page is loaded, so the list never has holes.
 */
export class History {
  /** `accepts(row)`: whether a row new to the page belongs in it (the history's filters). */
  constructor(accepts = () => true) {
    this.accepts = accepts;
    this.reset();
  }

  reset() {
    this.clearRows();
    this.batches = new Map();
    this.batchPositions = new Map();
    this.position = null;
  }

  /** Forget the rows and the paging, keeping the position the subscription resumes after (a new filter). */
  clearRows() {
    this.rows = new Map();
    this.positions = new Map();
    this.cursor = null;
    this.next = null;
  }

  /** Track the highest position seen (what a reconnect resumes after). */
  seen(position) {
    if (this.position === null || position > this.position) this.position = position;
  }

  /**
   * Merge a `get_history` page read at `position`; returns the rows that changed. Only the snapshot a
   * subscription starts from may move `this.position` (the caller does it): a later page can be read
   * ahead of deltas still on their way, and resuming after it would skip them.
   */
  addPage(data, position) {
    const changed = [];
    for (const group of data.groups) {
      for (const row of group.items) {
        if (this.put(row, position)) changed.push(row);
      }
    }
    this.next = data.next;
    this.cursor = data.next ? parseCursor(data.next) : null;
    return changed;
  }

  /** Whether a row lies beyond the pages loaded so far. */
  beyondCursor(row) {
    return this.cursor !== null && newerFirst(row, this.cursor) > 0;
  }

  put(row, position) {
    const held = this.positions.get(row.id);
    if (held !== undefined && held > position) return false;
    this.rows.set(row.id, row);
    this.positions.set(row.id, position);
    return true;
  }

  /**
   * Apply one delta. Returns `{kind: "row"|"batch", row, previous}` when the page's copy changed,
   * null when it was stale or outside the loaded pages.
   */
  apply(delta) {
    this.seen(delta.position);
    if (delta.channel === "batch:progress") {
      const held = this.batchPositions.get(delta.data.batch_id);
      if (held !== undefined && held > delta.position) return null;
      const previous = this.batches.get(delta.data.batch_id) ?? null;
      this.batches.set(delta.data.batch_id, delta.data);
      this.batchPositions.set(delta.data.batch_id, delta.position);
      return { kind: "batch", row: delta.data, previous };
    }
    const row = delta.data;
    const previous = this.rows.get(row.id) ?? null;
    if (previous === null && (this.beyondCursor(row) || !this.accepts(row))) return null;
    if (!this.put(row, delta.position)) return null;
    return { kind: "row", row, previous };
  }

  /** Record a batch read with `get_batch` (same staleness rule as deltas). */
  putBatch(row, position) {
    const held = this.batchPositions.get(row.batch_id);
    if (held !== undefined && held > position) return false;
    this.batches.set(row.batch_id, row);
    this.batchPositions.set(row.batch_id, position);
    return true;
  }

  sorted() {
    return [...this.rows.values()].sort(newerFirst);
  }
}
