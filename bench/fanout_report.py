"""The fan-out bench's figures: latency quantiles over every client's deltas, losses, drops, targets met."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fanout_clients import ClientReport

__all__ = ["Figures", "figures", "print_tables", "quantile"]

TARGET_P99_MS = {50.0: 250.0, 100.0: 1000.0}
"""The fan-out p99 target at each rate of row changes the issue names."""
TARGET_GET_STATUS_P99_MS = 50.0
REACHED = 0.9
"""Below this share of the target rate, the verdicts say the load was not reached."""


def quantile(sorted_values: Sequence[float], fraction: float) -> float:
    """The value at `fraction` of a sorted sequence (nearest rank); nan when empty."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


@dataclass(frozen=True)
class Figures:
    """One scenario's outcome."""

    label: str
    rate: float
    clients: int
    connected: int
    changes_per_second: float
    latency_ms: tuple[float, float, float, float]
    """p50, p90, p99, max."""
    deltas: int
    missing: int
    dropped: dict[str, int]
    out_of_order: int
    lagging: int
    get_status_ms: tuple[float, float, int]
    """p50, p99, samples."""
    generate_ms: tuple[float, float, int]
    deltas_per_frame: float
    client_cpu: float
    """The client processes' CPU use together, as a share of one CPU."""
    server_cpu: float
    rss_mib: float
    load: tuple[float, float]
    generation_rate: float
    refused: int
    """`generate` requests answered with an error."""
    learned: float | None
    """Row changes per generation the driver learned in the warm-up (None: too few ended, the guess stood)."""

    def verdicts(self) -> list[str]:
        """Each target of this rate, met or not."""
        p99 = self.latency_ms[2]
        out = []
        target = TARGET_P99_MS.get(self.rate)
        if target is not None:
            out.append(f"fan-out p99 <= {target:g} ms: {'met' if p99 <= target else 'NOT MET'} ({p99:.0f} ms)")
        if self.rate >= 100:
            drops = sum(self.dropped.values())
            out.append(f"no client dropped: {'met' if drops == 0 else 'NOT MET'} ({drops} dropped)")
        status_p99 = self.get_status_ms[1]
        ok = status_p99 <= TARGET_GET_STATUS_P99_MS
        out.append(
            f"get_status p99 <= {TARGET_GET_STATUS_P99_MS:g} ms: {'met' if ok else 'NOT MET'} ({status_p99:.1f} ms)"
        )
        if self.changes_per_second < REACHED * self.rate:
            out.append(f"the load was not reached ({self.changes_per_second:.0f} of {self.rate:g} changes/s)")
        return out


def figures(
    label: str,
    rate: float,
    clients: int,
    connected: int,
    reports: Sequence[ClientReport],
    window_seconds: float,
    get_status: Sequence[float],
    generate: Sequence[float],
    *,
    server_cpu: float,
    rss_mib: float,
    load: tuple[float, float],
    generation_rate: float,
    refused: int,
    learned: float | None,
) -> Figures:
    """Pool the client processes' reports, each already cut to the measured window."""
    keys = set().union(*(report.keys for report in reports))
    latencies = sorted(latency for report in reports for latency in report.latencies)
    per_client: dict[int, int] = {}
    for report in reports:
        for client in report.clients:
            per_client[client] = per_client.get(client, 0) + 1
    dropped_clients = set().union(*(report.dropped_clients for report in reports))
    open_clients = connected - len(dropped_clients)
    read_by_open = sum(count for client, count in per_client.items() if client not in dropped_clients)
    dropped: dict[str, int] = {}
    for report in reports:
        for code, count in report.dropped.items():
            dropped[code] = dropped.get(code, 0) + count
    ms = [1000 * quantile(latencies, f) for f in (0.5, 0.9, 0.99)] + [1000 * latencies[-1] if latencies else 0.0]
    status, made = sorted(get_status), sorted(generate)
    cpu = sum(report.cpu_seconds / max(report.wall_seconds, 1e-9) for report in reports)
    return Figures(
        label=label,
        rate=rate,
        clients=clients,
        connected=connected,
        changes_per_second=len(keys) / window_seconds,
        latency_ms=(ms[0], ms[1], ms[2], ms[3]),
        deltas=len(latencies),
        missing=open_clients * len(keys) - read_by_open,
        dropped=dropped,
        out_of_order=sum(report.out_of_order for report in reports),
        lagging=sum(report.lagging for report in reports),
        get_status_ms=(1000 * quantile(status, 0.5), 1000 * quantile(status, 0.99), len(status)),
        generate_ms=(1000 * quantile(made, 0.5), 1000 * quantile(made, 0.99), len(made)),
        deltas_per_frame=sum(r.all_deltas for r in reports) / max(1, sum(r.frames for r in reports)),
        client_cpu=cpu,
        server_cpu=server_cpu,
        rss_mib=rss_mib,
        load=load,
        generation_rate=generation_rate,
        refused=refused,
        learned=learned,
    )


def print_tables(results: Sequence[Figures]) -> None:
    """The fan-out table, then the targets and what else each scenario showed."""
    header = (
        f"{'server':<8} {'target/s':>8} {'achieved/s':>10} {'clients':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'dropped':>7} {'missing':>7} {'get_status p50/p99 ms':>21}"
    )
    print(header)
    print("-" * len(header))
    for f in results:
        p50, p90, p99, top = f.latency_ms
        status = f"{f.get_status_ms[0]:.1f} / {f.get_status_ms[1]:.1f}"
        print(
            f"{f.label:<8} {f.rate:>8g} {f.changes_per_second:>10.1f} {f.connected:>7,} {p50:>7.0f} {p90:>7.0f} "
            f"{p99:>7.0f} {top:>7.0f} {sum(f.dropped.values()):>7,} {f.missing:>7,} {status:>21}"
        )
    print()
    for f in results:
        print(f"{f.label} at {f.rate:g} changes/s: " + "; ".join(f.verdicts()))
    print()
    for f in results:
        drops = ", ".join(f"{count} x {code}" for code, count in sorted(f.dropped.items())) or "none"
        print(
            f"{f.label} at {f.rate:g}/s: {f.connected:,}/{f.clients:,} connected, {f.deltas:,} deltas read "
            f"({f.deltas_per_frame:.2f} a frame), {f.generation_rate:.1f} generate/s ({f.refused} refused; "
            f"{f'{f.learned:.1f} changes per generation' if f.learned else 'too few ended in the warm-up to learn'}"
            "), generate "
            f"p50/p99 {f.generate_ms[0]:.0f}/{f.generate_ms[1]:.0f} ms, get_status samples {f.get_status_ms[2]:,}, "
            f"dropped {drops}, out of order {f.out_of_order}, behind at the end {f.lagging}, server CPU "
            f"{f.server_cpu:.0%} of one CPU, server RSS {f.rss_mib:.0f} MiB, "
            f"client processes' CPU {f.client_cpu:.0%} of one CPU, load average {f.load[0]:.1f} -> {f.load[1]:.1f}"
        )
