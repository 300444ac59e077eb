// The status bar: connection state, the relay's queue and budget, completion times and failure rates.

import { duration, reasonLabel } from "./words.js";

const CONNECTION_TEXT = {
  connecting: () => "Connecting…",
  connected: () => "Connected",
  reconnecting: (ms) => (ms ? `Reconnecting in ${duration(ms / 1000)}…` : "Reconnecting…"),
  refused: () => "Token refused",
  stopped: () => "Disconnected",
};

export class StatusBar {
  constructor(doc) {
    this.conn = doc.getElementById("conn");
    this.queue = doc.getElementById("queue");
    this.rate = doc.getElementById("rate");
    this.meter = doc.getElementById("rate-meter");
    this.timing = doc.getElementById("timing");
    this.failures = doc.getElementById("failures");
    this.paused = doc.getElementById("paused");
  }

  connection(state, detail) {
    this.conn.dataset.state = state;
    this.conn.textContent = (CONNECTION_TEXT[state] ?? (() => state))(detail);
  }

  /** `queue_status` data. */
  queueStatus(data) {
    const waiting = (data.queued ?? 0) + (data.waiting_token ?? 0) + (data.submitting ?? 0);
    const onFlow = (data.pending ?? 0) + (data.processing ?? 0);
    this.queue.textContent = `${waiting} waiting · ${onFlow} on Flow`;
    const rate = data.budget?.rate ?? 0;
    const used = data.requests_last_second ?? 0;
    this.rate.textContent = `${used} of ${rate}/s`;
    this.meter.max = rate || 1;
    this.meter.high = (rate || 1) * 0.9;
    this.meter.value = used;
    const paused = data.paused_profiles ?? [];
    this.paused.hidden = paused.length === 0;
    this.paused.textContent = paused.length
      ? `Paused: ${paused.map((p) => `${p.profile_id} (${reasonLabel(p.reason)}, ${duration(p.seconds_left)} left)`).join("; ")}`
      : "";
  }

  /** `get_analytics` data. */
  analytics(data) {
    const lines = (data.completion ?? []).map((c) => {
      const kind = c.job_type === "upscale" ? " upscale" : "";
      return `${c.model}${kind}: median ${duration(c.p50)}, p90 ${duration(c.p90)}, p99 ${duration(c.p99)} (${c.count})`;
    });
    this.timing.textContent = lines.length ? lines.join("; ") : "no completed videos yet";
    const counts = data.counts ?? {};
    const failed = counts.failed ?? 0;
    const finished = failed + (counts.completed ?? 0);
    if (finished === 0) {
      this.failures.textContent = "none yet";
      return;
    }
    const percent = Math.round((100 * failed) / finished);
    const reasons = Object.entries(data.failures ?? {})
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([reason, n]) => `${reasonLabel(reason)} ×${n}`);
    this.failures.textContent = `${failed} of ${finished} (${percent}%)${reasons.length ? ` · ${reasons.join(", ")}` : ""}`;
  }
}
