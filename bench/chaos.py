"""Chaos figures: the relay under kill -9, PollerActor crashes, Flow faults, expiring tokens and storage faults.

Each scenario is the long version of a test in `tests/reliability/` (the runs and their checks live
there; this script only sizes them and prints what they measured):

- crash: a batch through a real `veo serve` process killed with SIGKILL at random moments and restarted
  on the same data directory and port, against a `veo simulator` process that outlives it, with a
  websocket client that resumes from its last position after every restart;
- poller: the same batch through an in-process System whose PollerActor is crashed at random moments;
- faults: one Flow answer in five is a 500, 503, 429 (Retry-After), held answer or unreadable body;
- tokens: 5% of Flow answers are 401 (the bearer token expired);
- storage: the event store refuses writes ("disk full"), then the read model does ("read-only");
- quiet: the same in-process batch with nothing injected, the baseline for the others' times.

Every run prints its broken promises (none expected) beside its figures.

    .venv/bin/python bench/chaos.py                          # every scenario, issue sizes (about 6 minutes)
    .venv/bin/python bench/chaos.py --only crash --jobs 300 --kills 20
    .venv/bin/python bench/chaos.py --jobs 60 --kills 5 --crashes 8   # a quick look (about 2 minutes)
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the runs live in tests/reliability

from tests.reliability.batch_run import BatchPlan, BatchReport, run_batch
from tests.reliability.crash import CrashPlan, CrashReport, run_crash

logger = logging.getLogger(__name__)

SCENARIOS = ("crash", "poller", "faults", "tokens", "storage", "quiet")
TWENTY_PERCENT = {"500": 0.04, "503": 0.04, "429": 0.04, "timeout": 0.04, "malformed": 0.04}
RESTORE_TARGET_S = 1.0


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    return f"p50 {p50 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"


def _verdict(problems: list[str]) -> str:
    return "all promises kept" if not problems else "BROKEN: " + "; ".join(problems)


def print_crash(report: CrashReport) -> None:
    """The kill -9 run's figures."""
    plan, audit, failures = report.plan, report.audit, report.failures
    open_at_kills = report.open_at_kills
    print(
        f"\n== crash: {plan.jobs} jobs, {len(report.in_flight_at_kill)} x kill -9 of veo serve "
        f"(uptime U[{plan.uptime[0]:g}, {plan.uptime[1]:g}] s), Flow U[{plan.lo:g}, {plan.hi:g}] s, "
        f"faults {plan.faults or 'none'}, R={plan.rate:g}"
    )
    print(f"  finished in {report.elapsed:.1f} s: {dict(report.statuses)}; failures {failures.by_reason or 'none'}")
    print(f"  restart (kill -> listening again): {_ms(report.restart_seconds)}")
    print(
        f"  kills with a submission in flight: {report.kills_with_submission_in_flight} of "
        f"{len(report.in_flight_at_kill)}; submissions open at a kill: {len(open_at_kills)}"
    )
    print(
        f"    failed at restore (interrupted_submission): {len(failures.interrupted_at_restore)} "
        f"(= the open ones: {failures.interrupted_at_restore == open_at_kills}); Flow had created "
        f"{report.charged_but_failed} of them (the kill ate the answer), {report.never_reached_flow} never reached it"
    )
    print(
        f"  Flow: {audit['requests_total']} requests, max {audit['max_in_any_1s_window']} in any 1 s, "
        f"{audit['throttled_429']} x 429, scenes created twice: {len(audit['duplicate_scene_ids'])}, "
        f"sent twice: {sum(1 for n in audit['generate_attempts_per_scene'].values() if n > 1)}"
    )
    delivery = report.delivery
    print(
        f"  websocket client: {report.connections} connections, {delivery.received} deltas of "
        f"{delivery.expected} journalled, {delivery.missing} missing, {delivery.doubled} doubled, "
        f"{report.not_resumed} resumes refused"
    )
    store = report.store
    print(
        f"  store: integrity {store.events_integrity}/{store.views_integrity}, read model = rebuild: "
        f"{not store.rebuild_differs}"
    )
    print(f"  {_verdict(report.problems)}")


def print_batch(name: str, report: BatchReport, quiet: BatchReport | None) -> None:
    """An in-process run's figures, with its time beside the quiet run's."""
    plan, audit, failures = report.plan, report.audit, report.failures
    print(f"\n== {name}: {plan.jobs} jobs, Flow U[{plan.lo:g}, {plan.hi:g}] s, R={plan.rate:g}")
    baseline = f" (quiet run: {quiet.elapsed:.1f} s, {quiet.requests} requests)" if quiet is not None else ""
    print(f"  finished in {report.elapsed:.1f} s with {report.requests} requests{baseline}")
    print(f"  {dict(report.statuses)}; failures {failures.by_reason or 'none'}")
    if plan.faults:
        print(f"  faults injected: {audit['faults_injected']}; answered ambiguously: {audit['ambiguous_submissions']}")
        print(
            f"  interrupted_submission: {len(failures.interrupted_by_answer)} "
            f"(<= {audit['ambiguous_submissions']} ambiguous answers); failed for a transient reason: "
            f"{sum(n for r, n in failures.by_reason.items() if r != 'interrupted_submission')}"
        )
    if "401" in plan.faults:
        print(
            f"  tokens expired {audit['tokens_expired']}, new tokens issued {audit['sessions_issued']}, "
            f"session requests {audit['requests_by_path'].get('/fx/api/auth/session', 0)}"
        )
    if plan.crashes:
        slow = sum(1 for s in report.restore_seconds if s >= RESTORE_TARGET_S)
        print(
            f"  PollerActor crashes {plan.crashes}, restarts {report.restarts}, crash -> restored "
            f"{_ms(report.restore_seconds)} (target < {RESTORE_TARGET_S:g} s: {slow} over)"
        )
    for outage in report.outages:
        print(
            f"  {outage.what} for {outage.seconds:g} s: {outage.refused_writes} writes refused, up to "
            f"{outage.waiting_max} waiting, all recorded {outage.recovery_s:.2f} s after it cleared"
        )
    print(
        f"  budget: Flow saw max {audit['max_in_any_1s_window']} in any 1 s ({audit['throttled_429']} x 429 for "
        f"the window), the relay started max {report.relay_max_in_1s}; scenes created twice "
        f"{len(audit['duplicate_scene_ids'])}; read model = rebuild: {not report.rebuild_differs}"
    )
    print(f"  {_verdict(report.problems)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios; exit code 1 when any promise was broken."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}")
    parser.add_argument("--jobs", type=int, default=300, help="generations per batch (300)")
    parser.add_argument("--kills", type=int, default=20, help="kill -9 of veo serve in the crash run (20)")
    parser.add_argument("--crashes", type=int, default=30, help="PollerActor crashes in the poller run (30)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=10.0, help="R, requests per second (10)")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    logging.basicConfig(level=logging.CRITICAL)
    print(
        f"chaos bench on {platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    # Kills spread over the submissions: about jobs / 5 s of them (half of R while checks are due).
    submitting_s = args.jobs / (args.rate / 2)
    mean_gap = max(0.6, submitting_s / max(1, args.kills) - 0.8)
    crash = CrashPlan(
        jobs=args.jobs,
        kills=args.kills,
        seed=args.seed,
        rate=args.rate,
        uptime=(0.3, max(0.6, 2 * mean_gap - 0.3)),
        finish_timeout=120.0 + args.jobs,
    )
    crash_gap = max(0.2, submitting_s / max(1, args.crashes))
    base = BatchPlan(jobs=args.jobs, seed=args.seed, rate=args.rate, finish_timeout=120.0 + args.jobs)
    outage_at = min(10.0, submitting_s / 3)
    runs: dict[str, BatchPlan] = {
        "quiet": base,
        "poller": replace(base, crashes=args.crashes, crash_gap=(0.5 * crash_gap, 1.5 * crash_gap)),
        "faults": replace(base, faults=TWENTY_PERCENT),
        "tokens": replace(base, faults={"401": 0.05}),
        "storage": replace(base, store_fault=(outage_at, 5.0), read_model_fault=(outage_at + 10.0, 5.0)),
    }
    broken = 0
    started = time.monotonic()
    quiet: BatchReport | None = None
    with tempfile.TemporaryDirectory(prefix="veo-chaos-") as scratch:
        workdir = Path(scratch)
        if "quiet" in chosen:
            quiet = run_batch(workdir / "quiet", runs["quiet"])
            print_batch("quiet (nothing injected)", quiet, None)
            broken += bool(quiet.problems)
        if "crash" in chosen:
            report = run_crash(workdir / "crash", crash)
            print_crash(report)
            broken += bool(report.problems)
        titles: dict[str, str] = {
            "poller": "PollerActor crashes",
            "faults": "Flow faults (20%: 500, 503, 429, held, unreadable)",
            "tokens": "token expiry (5% of answers 401)",
            "storage": "storage faults",
        }
        for name, title in titles.items():
            if name in chosen:
                batch = run_batch(workdir / name, runs[name])
                print_batch(title, batch, quiet)
                broken += bool(batch.problems)
    print(f"\n{len(chosen)} scenario(s) in {time.monotonic() - started:.0f} s; {broken} with broken promises")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
