"""What the kernel did while the slowest round trips of `bench/hostile.py` waited: its `--sched-trace` analysis.

`--breakdown` (bench/breakdown.py) sees from inside the processes that the server's loop thread was runnable
and not running; it cannot see what ran instead. With `--sched-trace DIR` the bench records the kernel's
scheduler trace for the whole run (tracefs: `sched_switch`, `sched_waking`, `sched_wakeup` on every CPU, and
the system call returns of the server's loop thread and of the probe; root only) into `DIR/trace.txt`, and then:

- the loop's waits: every wake-up of the server's loop thread (its main thread) that waited over 1 ms for
  its CPU, per second of each phase kind, named by what had the CPU meanwhile (another thread of the server,
  a kernel thread, another program, or nothing: the CPU idle while the wake-up had not yet reached it);
- each round trip at or above its phase kind's p99 (all rounds pooled), cut at the kernel's events: the probe's
  send waking the loop, the loop getting its CPU, the loop waking the probe with the reply, the probe getting its
  CPU; named by its largest piece (`loop runnable` also by what had the loop's CPU), or `loop already awake`
  when the probe's send found the loop thread not asleep (working, or runnable and waiting for its CPU), or
  `probe not waiting` when the reply found the probe's thread not asleep (its own loop working).

A thread is taken to have its CPU from the first event logged while it is the current task: this kernel (6.18
in a VM) logs no switch out of a CPU's idle task, so a thread woken on an idle CPU shows up first with its
system call's return (that is why those are traced).

Tracing costs both processes a little, so its runs are not headline figures.
"""

from __future__ import annotations

import bisect
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantile_ratio import at_or_above_p99

__all__ = ["Trace", "kernel_trace", "report", "tracefs"]

EVENTS = ("sched/sched_switch", "sched/sched_waking", "sched/sched_wakeup")
SYSCALL_RETURN = "raw_syscalls/sys_exit"
BUFFER_KIB = 200_000
"""Per CPU: enough for ~10 minutes of the bench's default rounds."""
LONG_WAIT_S = 0.001
LINE = re.compile(
    r"^\s*(?P<comm>.+?)-(?P<tid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<t>[\d.]+): (?P<event>\w+): (?P<f>.*)$"
)
FIELD = re.compile(r"(\w+)=(\S+)")
SWITCH = re.compile(
    r"prev_comm=(?P<prev>.*?) prev_pid=(?P<prev_pid>\d+) .*==> next_comm=(?P<next>.*?) next_pid=(?P<pid>\d+)"
)


def tracefs() -> Path | None:
    """The writable tracefs directory, or None (not root, or no tracefs on this kernel)."""
    for path in (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing")):
        try:
            (path / "tracing_on").write_text((path / "tracing_on").read_text())
        except OSError:
            continue
        return path
    return None


@contextmanager
def kernel_trace(directory: Path, threads: tuple[int, ...]) -> Iterator[None]:
    """Record the scheduler trace while the block runs, and the system call returns of `threads` (the server's
    loop and the probe: each return shows its thread on its CPU); then write it to `directory/trace.txt` (clock:
    TAI, Unix time plus the TAI offset written first) and put tracefs back as it was."""
    root = tracefs()
    if root is None:
        raise SystemExit("--sched-trace needs root and tracefs (/sys/kernel/tracing or /sys/kernel/debug/tracing)")
    directory.mkdir(parents=True, exist_ok=True)
    saved = {name: (root / name).read_text() for name in ("trace_clock", "buffer_size_kb", "tracing_on")}
    clock = re.search(r"\[(\w+)\]", saved["trace_clock"])
    events = (*EVENTS, SYSCALL_RETURN)
    enabled = {event: (root / "events" / event / "enable").read_text()[:1] for event in events}  # "0" or "1"
    (root / "tracing_on").write_text("0")
    (root / "trace").write_text("")
    (root / "trace_clock").write_text("tai")
    (root / "buffer_size_kb").write_text(str(BUFFER_KIB))
    (root / "events" / SYSCALL_RETURN / "filter").write_text(" || ".join(f"common_pid == {tid}" for tid in threads))
    for event in events:
        (root / "events" / event / "enable").write_text("1")
    offset = time.clock_gettime(time.CLOCK_TAI) - time.time()
    (root / "tracing_on").write_text("1")
    try:
        yield
    finally:
        (root / "tracing_on").write_text("0")
        with (directory / "trace.txt").open("w") as out:
            out.write(f"# tai-offset {offset:.6f}\n")
            with (root / "trace").open() as recorded:
                shutil.copyfileobj(recorded, out)
        (root / "trace").write_text("")
        for event, state in enabled.items():
            (root / "events" / event / "enable").write_text(state)
        (root / "events" / SYSCALL_RETURN / "filter").write_text("0")
        (root / "buffer_size_kb").write_text(saved["buffer_size_kb"].split()[0])  # "7 (expanded: 1408)" too
        (root / "trace_clock").write_text(clock.group(1) if clock else "local")
        (root / "tracing_on").write_text(saved["tracing_on"].strip())


@dataclass
class Trace:
    """The recorded events, in Unix time.

    A thread is known to have its CPU from any event logged while it is the current task (its system call
    returns, its wakings of others, its switch-in when the switch is logged: this kernel does not log the
    switches out of a CPU's idle task); it is off its CPU from its switch-out until then.
    """

    current: dict[int, list[tuple[float, int, str]]] = field(default_factory=lambda: defaultdict(list))
    """Per CPU: (time, the current task's thread id, its command name) at each event logged there."""
    seen: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Per thread id: each time an event showed it on its CPU."""
    outs: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Per thread id: each time it was switched out."""
    wakings: dict[int, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    """Per woken thread id: (time, the waking thread's id)."""
    wakeups: dict[int, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    """Per woken thread id: (time, the CPU it was queued on)."""
    lost: int = 0
    """Events the ring buffer overwrote (the earliest): the trace does not cover the run's start."""

    @classmethod
    def load(cls, path: Path) -> Trace:
        trace = cls()
        offset = 0.0
        with path.open() as lines:
            for line in lines:
                if line.startswith("# tai-offset"):
                    offset = float(line.split()[2])
                elif line.startswith("# entries-in-buffer/entries-written:"):
                    kept, written = (int(n) for n in line.split()[2].split("/"))
                    trace.lost = written - kept
                match = LINE.match(line)
                if match is None:
                    continue
                at, event, fields = float(match["t"]) - offset, match["event"], match["f"]
                cpu, tid = int(match["cpu"]), int(match["tid"])
                if event == "sched_switch":
                    switch = SWITCH.search(fields)
                    if switch is not None:
                        trace.outs[int(switch["prev_pid"])].append(at)
                        trace.seen[int(switch["pid"])].append(at)
                        trace.current[cpu].append((at, int(switch["pid"]), switch["next"]))
                    continue
                trace.seen[tid].append(at)
                trace.current[cpu].append((at, tid, match["comm"]))
                if event == "sched_waking":
                    trace.wakings[int(dict(FIELD.findall(fields))["pid"])].append((at, tid))
                elif event == "sched_wakeup":
                    named = dict(FIELD.findall(fields))
                    trace.wakeups[int(named["pid"])].append((at, int(named["target_cpu"])))
        return trace

    def next_run(self, tid: int, after: float) -> float | None:
        """The first event after `after` that showed `tid` on its CPU."""
        seen = self.seen[tid]
        index = bisect.bisect_right(seen, after)
        return seen[index] if index < len(seen) else None

    def off_cpu(self, tid: int, at: float) -> bool:
        """Was `tid` switched out at `at`? (A waking of a thread still on its CPU, about to sleep, does not count.)"""
        seen, outs = self.seen[tid], self.outs[tid]
        last_seen = seen[bisect.bisect_left(seen, at) - 1] if bisect.bisect_left(seen, at) else -1.0
        last_out = outs[bisect.bisect_left(outs, at) - 1] if bisect.bisect_left(outs, at) else -1.0
        return last_out >= last_seen

    def next_waking(self, tid: int, after: float, until: float, by: int | None = None) -> float | None:
        """The first waking of `tid` off its CPU in (after, until], by thread `by` if given."""
        wakings = self.wakings[tid]
        for at, waker in wakings[bisect.bisect_right(wakings, (after, 1 << 62)) :]:
            if at > until:
                return None
            if (by is None or waker == by) and self.off_cpu(tid, at):
                return at
        return None

    def name_of(self, tid: int) -> str:
        """The command name of thread `tid` (empty if it never ran while traced)."""
        for events in self.current.values():
            for _, current, comm in events:
                if current == tid:
                    return comm
        return ""

    def queued_on(self, tid: int, at: float) -> int | None:
        """The CPU `tid`'s wake-up at or after `at` was queued on."""
        wakeups = self.wakeups[tid]
        index = bisect.bisect_left(wakeups, (at, -1))
        return wakeups[index][1] if index < len(wakeups) else None

    def who_ran(self, cpu: int, begin: float, end: float, server: str) -> dict[str, float]:
        """Seconds each kind of task was current on `cpu` between `begin` and `end` (`server`: the server's
        command name), each stretch between two events given to the task current at the first."""
        current = self.current[cpu]
        index = max(0, bisect.bisect_right(current, (begin, 1 << 62, "")) - 1)
        ran: dict[str, float] = defaultdict(float)
        while index < len(current) and current[index][0] < end:
            at, tid, comm = current[index]
            upto = current[index + 1][0] if index + 1 < len(current) else end
            seconds = min(upto, end) - max(at, begin)
            if seconds > 0:
                ran[_kind(comm, tid, server)] += seconds
            index += 1
        return ran


def _kind(comm: str, tid: int, server: str) -> str:
    if tid == 0:
        return "nothing (the CPU idle: the wake-up not yet there)"
    if comm == server:  # Python names no thread: all of the server's carry its command's name
        return "another server thread"
    if comm.startswith(("kworker", "ksoftirqd", "rcu_", "kdamond", "kcompactd", "migration", "kswapd")):
        return f"kernel: {comm.split('/', maxsplit=1)[0]}"
    return f"other: {comm}"


def report(trace: Trace, records: list[dict[str, Any]], loop: int, probe: int) -> list[str]:
    """The two summaries (module docstring) of one placement's `records` in `trace` (`Trace.load`), for the
    server's loop thread `loop` (its main thread: the process id) and the probe's thread `probe`."""
    server = trace.name_of(loop)
    phases: dict[str, list[tuple[float, float]]] = defaultdict(list)
    trips: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for record in records:
        sent = [(trip[2], trip[1]) for trip in record["round_trips"]]
        if sent:
            phases[record["phase"]].append((sent[0][0], sent[-1][0] + sent[-1][1] / 1000))
            trips[record["phase"]].extend(sent)
    lines = []
    if trace.lost:
        lines.append(f"    the trace buffer overflowed: its earliest {trace.lost:,} events (the first rounds) are lost")
    for phase, spans in phases.items():
        seconds = sum(end - begin for begin, end in spans)
        waits = _loop_waits(trace, loop, spans, server)
        total = sum(waits.values())
        lines.append(
            f"    {phase}: loop wake-ups that waited > 1 ms for the CPU: {total / seconds:.2f} a second; behind "
            + ", ".join(f"{kind} {count / seconds:.2f}/s" for kind, count in waits.most_common())
        )
        cut, slow = at_or_above_p99(trips[phase])
        named = Counter(_round_trip(trace, loop, probe, sent, ms, server) for sent, ms in slow)
        lines.append(
            f"    {phase}: {len(slow)} round trips at or above p99 ({cut:.2f} ms): "
            + ", ".join(f"{kind} {count}" for kind, count in named.most_common())
        )
    return lines


def _loop_waits(trace: Trace, loop: int, spans: list[tuple[float, float]], server: str) -> Counter[str]:
    waits: Counter[str] = Counter()
    for at, _ in trace.wakings[loop]:
        if not any(begin <= at <= end for begin, end in spans) or not trace.off_cpu(loop, at):
            continue
        ran = trace.next_run(loop, at)
        cpu = trace.queued_on(loop, at)
        if ran is None or cpu is None or ran - at <= LONG_WAIT_S:
            continue
        who = trace.who_ran(cpu, at, ran, server)
        waits[max(who, key=who.__getitem__) if who else "unknown"] += 1
    return waits


def _round_trip(trace: Trace, loop: int, probe: int, sent: float, ms: float, server: str) -> str:
    end = sent + ms / 1000
    woke = trace.next_waking(loop, sent, end, by=probe)
    if woke is None:
        return "loop already awake (working)"
    ran = trace.next_run(loop, woke) or woke
    replied = trace.next_waking(probe, ran, end + 0.001)
    if replied is None:
        return "probe not waiting (working)"
    got = trace.next_run(probe, replied) or replied
    pieces = {
        "probe send": woke - sent,
        "loop runnable": ran - woke,
        "server until reply": replied - ran,
        "probe runnable": got - replied,
    }
    largest = max(pieces, key=lambda piece: pieces[piece])
    if largest == "loop runnable":
        cpu = trace.queued_on(loop, woke)
        who = trace.who_ran(cpu, woke, ran, server) if cpu is not None else {}
        return f"loop runnable behind {max(who, key=who.__getitem__) if who else 'unknown'}"
    return largest
