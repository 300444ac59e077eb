"""Where the slowest round trips of `bench/hostile.py` wait: its `--breakdown` analysis.

With `--breakdown DIR`, the bench process and `veo serve` log their loops' events (`breakdown_hooks`:
every `select()` with the thread's run-queue delay, every read and write of the non-attacker connections),
and each phase's round trips are kept with their send times. Each round trip at or above its phase kind's
p99 (all rounds pooled) is then cut at: the probe's `write` returning; the server's `select()` that
returned before it read the request; that read; the server's reply written on the same connection; the
probe's read of it. Its largest piece names it:

- `loop busy`: the request arrived while the server's loop was not waiting in `select()` (working, or
  waiting for the GIL) and the loop got to it that much later;
- `server not scheduled`: the loop was waiting, was woken, and was runnable but not running (the run-queue
  delay of that `select()`);
- `server late wake`: the loop was waiting and its `select()` returned late with no run-queue delay (the
  request not yet delivered to its socket, or the GIL);
- `server reply`: from the read to the reply written (the request's own handling);
- `probe receive`: from the reply written to the probe reading it (`probe not scheduled` when the probe's
  thread was runnable but not running for most of it);
- `probe send`: before the probe's write returned; `other`: what is left.

Also per phase kind: how often a blocking `select()` of the server's loop (≥ 0.2 ms) was followed by a
run-queue delay over 1 ms, i.e. whether waking up costs more under attack; and which of the server loop's
callbacks ran 1 ms or longer, how often, and how much of that time was on the CPU (the rest: waiting for
the GIL or for the CPU); and the server's garbage collections of 0.2 ms or more, on any thread (a collection
holds the GIL throughout: the loop cannot run meanwhile).
"""

from __future__ import annotations

import bisect
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantile_ratio import at_or_above_p99

__all__ = ["Breakdown", "breakdown"]


@dataclass
class Log:
    """One process's events, each kind sorted by time."""

    selects: list[tuple[float, float, int, float, float]] = field(default_factory=list)
    """(returned, began, ready, run-queue delay ms in it, run-queue delay ms since the previous one returned)."""
    reads: list[tuple[float, int]] = field(default_factory=list)
    writes: list[tuple[float, float, int]] = field(default_factory=list)
    callbacks: list[tuple[float, float, float, str]] = field(default_factory=list)
    """Loop callbacks that ran >= 0.5 ms: (began, wall ms, thread CPU ms, what)."""
    collections: list[tuple[float, float, int, bool]] = field(default_factory=list)
    """Garbage collections that took >= 0.2 ms: (began, ms, generation, on the loop's thread)."""

    @classmethod
    def load(cls, paths: list[Path]) -> Log:
        log = cls()
        for path in paths:
            for line in path.read_text().splitlines():
                event = json.loads(line)
                if event[0] == "select":
                    log.selects.append((event[2], event[1], event[3], event[4], event[5]))
                elif event[0] == "read":
                    log.reads.append((event[1], event[2]))
                elif event[0] == "callback":
                    log.callbacks.append((event[1], event[2], event[3], event[4]))
                elif event[0] == "gc":
                    log.collections.append((event[1], event[2], event[3], event[4]))
                else:
                    log.writes.append((event[1], event[2], event[3]))
        log.selects.sort()
        log.reads.sort()
        log.writes.sort()
        log.callbacks.sort()  # logged as they end: a long one comes after shorter ones that began later
        log.collections.sort()
        return log


CALLBACKS_SHOWN = 5


def _first_at(events: list[Any], at: float) -> int:
    return bisect.bisect_left(events, (at,))


@dataclass
class Breakdown:
    """Per phase kind: the slow round trips' causes (the ms of each one's largest piece, by cause) and wake costs."""

    spans: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    unmatched: Counter[str] = field(default_factory=Counter)
    wakes: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    """Per phase kind: blocking selects a second, how many were followed by > 1 ms of run-queue delay, seconds."""
    callbacks: dict[str, list[tuple[float, float, float, str]]] = field(default_factory=dict)
    """Per phase kind: the server loop's callbacks that ran >= 1 ms (began, wall ms, CPU ms, what)."""
    collections: dict[str, list[tuple[float, float, int, bool]]] = field(default_factory=dict)
    """Per phase kind: the server's garbage collections that took >= 0.2 ms (began, ms, generation, on the loop)."""

    def lines(self) -> list[str]:
        out = []
        for kind in ("quiet", "attack"):
            if kind not in self.spans and kind not in self.unmatched:
                continue
            causes = sorted(self.spans[kind].items(), key=lambda item: -len(item[1]))
            total = sum(len(spans) for _, spans in causes)
            parts = [f"{cause} {len(spans)} ({min(spans):.1f}-{max(spans):.1f} ms)" for cause, spans in causes]
            unmatched = self.unmatched[kind]
            out.append(f"    {kind}: {total} slowest round trips: " + ", ".join(parts) + f"; {unmatched} unmatched")
            if kind in self.wakes:
                blocking, late, seconds = self.wakes[kind]
                share = late / blocking if blocking else 0.0
                out.append(
                    f"      server loop: {blocking / seconds:.0f} blocking select() a second, {share:.2%} of them "
                    "followed by > 1 ms runnable but not running"
                )
                long = self.callbacks.get(kind, [])
                by_what: dict[str, list[tuple[float, float]]] = defaultdict(list)
                for _, wall, cpu, what in long:
                    by_what[what].append((wall, cpu))
                ranked = sorted(by_what.items(), key=lambda item: -sum(wall for wall, _ in item[1]))[:CALLBACKS_SHOWN]
                out.append(f"      server GC: {_collections(self.collections.get(kind, []), seconds)}")
                out.append(
                    f"      server loop: {len(long) / seconds:.2f} callbacks a second ran >= 1 ms"
                    + "".join(
                        f"; {what} {len(runs) / seconds:.2f}/s (up to {max(w for w, _ in runs):.1f} ms, "
                        f"{sum(c for _, c in runs) / sum(w for w, _ in runs):.0%} of it on the CPU)"
                        for what, runs in ranked
                    )
                )
        return out


def breakdown(records: list[dict[str, Any]], directory: Path) -> Breakdown:
    """`records`: the bench's phases ({"phase": "quiet" or "attack", "round_trips": [(seconds into the probe, ms,
    Unix time sent)]}); `directory`: the loops' event logs."""
    server = Log.load(sorted(directory.glob("server-*.jsonl")))
    bench = Log.load(sorted(directory.glob("bench-*.jsonl")))
    result = Breakdown()
    for kind in ("quiet", "attack"):
        phases = [r for r in records if r["phase"] == kind]
        trips = sorted((trip[2], trip[1]) for r in phases for trip in r["round_trips"])
        if not trips:
            continue
        for sent, ms in at_or_above_p99(trips)[1]:
            pieces = _pieces(sent, sent + ms / 1000, server, bench)
            if pieces is None:
                result.unmatched[kind] += 1
                continue
            cause = max(pieces, key=lambda name: pieces[name])
            result.spans[kind][cause].append(pieces[cause])
        blocking = late = 0
        windows = [(r["round_trips"][0][2], r["round_trips"][-1][2]) for r in phases if r["round_trips"]]
        seconds = sum(end - start for start, end in windows)
        for began_at, ended_at in windows:
            start, end = _first_at(server.selects, began_at), _first_at(server.selects, ended_at)
            for returned, began, _, delay, _ in server.selects[start:end]:
                if returned - began >= 0.0002:
                    blocking += 1
                    late += delay > 1.0
            first, last = _first_at(server.callbacks, began_at), _first_at(server.callbacks, ended_at)
            result.callbacks.setdefault(kind, []).extend(c for c in server.callbacks[first:last] if c[1] >= 1.0)
            first, last = _first_at(server.collections, began_at), _first_at(server.collections, ended_at)
            result.collections.setdefault(kind, []).extend(server.collections[first:last])
        result.wakes[kind] = (blocking, late, seconds)
    return result


def _collections(collections: list[tuple[float, float, int, bool]], seconds: float) -> str:
    """Garbage collections of >= 0.2 ms, per generation and thread: how often, how long on average and at most."""
    by_kind: dict[tuple[int, bool], list[float]] = defaultdict(list)
    for _, took, generation, on_loop in collections:
        by_kind[(generation, on_loop)].append(took)
    if not by_kind:
        return "no collection took 0.2 ms or more"
    parts = [
        f"generation {generation} on {'the loop' if on_loop else 'other threads'} {len(took) / seconds:.2f}/s "
        f"({sum(took) / len(took):.1f} ms on average, up to {max(took):.1f})"
        for (generation, on_loop), took in sorted(by_kind.items())
    ]
    total = sum(sum(took) for took in by_kind.values()) / seconds / 10  # ms a second -> percent
    return "collections of >= 0.2 ms: " + ", ".join(parts) + f"; {total:.2f}% of the time (all hold the GIL)"


def _pieces(sent: float, done: float, server: Log, bench: Log) -> dict[str, float] | None:
    """The round trip sent at `sent` cut into named pieces (ms), or None when its events are not all found."""
    index = _first_at(bench.writes, sent)
    if index == len(bench.writes) or bench.writes[index][0] > done:
        return None
    written = bench.writes[index][1]
    for read_at, connection in server.reads[_first_at(server.reads, written - 0.0001) :]:
        if read_at > done:
            return None
        reply = next(
            (w for w in server.writes[_first_at(server.writes, read_at) :] if w[2] == connection or w[0] > done),
            None,
        )
        if reply is not None and reply[0] <= done and reply[2] == connection:
            break
    else:
        return None
    received_index = _first_at(bench.reads, reply[0] - 0.00005)
    if received_index == len(bench.reads) or bench.reads[received_index][0] > done:
        return None
    received = bench.reads[received_index][0]
    woke = bench.selects[max(0, _first_at(bench.selects, received + 1e-7) - 1)]
    selected = server.selects[max(0, _first_at(server.selects, read_at + 1e-7) - 1)]
    returned, began, _, delay, preempted = selected
    pieces = {"probe send": (written - sent) * 1000}
    if began <= written:  # the loop was waiting in select() when the request was sent
        wait = max(0.0, (returned - written) * 1000)
        pieces["server not scheduled"] = min(delay, wait)
        pieces["server late wake"] = wait - min(delay, wait)
        pieces["loop busy"] = (read_at - returned) * 1000
    else:  # the loop was working (or preempted while it worked) when the request was sent
        late = (began - written) * 1000
        pieces["server not scheduled"] = min(preempted, late)
        pieces["loop busy"] = late - min(preempted, late) + (read_at - returned) * 1000
        pieces["server not scheduled"] += min(delay, (returned - began) * 1000)
    pieces["server reply"] = (reply[0] - read_at) * 1000
    receive = (received - reply[0]) * 1000
    probe_delay = min(woke[3], receive)
    pieces["probe not scheduled"] = probe_delay
    pieces["probe receive"] = receive - probe_delay
    pieces["other"] = max(0.0, (done - received) * 1000)
    return pieces
