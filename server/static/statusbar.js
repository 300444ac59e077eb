// The header's status: one line (connection, queue, the usual time, failures), the figures behind it on demand.

import { duration, modelName, reasonLabel } from "./words.js";

const CONNECTION_TEXT = {
  idle: () => "",
  connecting: () => "Connecting…",
  connected: () => "Connected",
  reconnecting: (ms) => (ms ? `Reconnecting in ${duration(ms / 1000)}…` : "Reconnecting…"),
  refused: () => "Token refused",
  stopped: () => "Disconnected",
};

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

/** The completion entry people meet most: the model and kind with the most completed videos. */
export function mostUsed(completion) {
  return completion.reduce((best, c) => (best === null || c.count > best.count ? c : best), null);
}

export class StatusBar {
  constructor(doc) {
    const $ = (id) => doc.getElementById(id);
    this.conn = $("conn");
    this.queue = $("queue");
    this.rate = $("rate");
    this.meter = $("rate-meter");
    this.timing = $("timing");
    this.timingRows = $("timing-table").tBodies[0];
    this.timingTable = $("timing-table");
    this.timingNone = $("timing-none");
    this.failures = $("failures");
    this.cancelled = $("cancelled");
    this.reasons = $("reasons");
    this.paused = $("paused");
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
    const completion = data.completion ?? [];
    const usual = mostUsed(completion);
    this.timing.textContent = usual ? `usually about ${duration(usual.p50)}` : "no videos finished yet";
    this.timing.title = usual
      ? `${modelName(usual.model)}${usual.job_type === "upscale" ? " upscale" : ""}: half of its videos take ${duration(usual.p50)} or less`
      : "";
    this.timingRows.replaceChildren(
      ...completion.map((c) => {
        const row = document.createElement("tr");
        const kind = c.job_type === "upscale" ? " (upscale)" : "";
        row.append(
          cell("th", `${modelName(c.model)}${kind}`),
          cell("td", duration(c.p50)),
          cell("td", duration(c.p90)),
          cell("td", duration(c.p99)),
          cell("td", String(c.count)),
        );
        row.firstChild.scope = "row";
        return row;
      }),
    );
    this.timingTable.hidden = completion.length === 0;
    this.timingNone.hidden = completion.length > 0;

    const counts = data.counts ?? {};
    const failed = counts.failed ?? 0;
    const finished = failed + (counts.completed ?? 0);
    const cancelled = counts.cancelled ?? 0;
    this.failures.textContent =
      failed === 0 ? "no failures" : `${failed} of ${finished} failed (${Math.round((100 * failed) / finished)}%)`;
    this.failures.dataset.bad = String(failed > 0);
    this.cancelled.hidden = cancelled === 0;
    this.cancelled.textContent = cancelled ? ` · ${cancelled} cancelled` : "";
    const reasons = Object.entries(data.failures ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([reason, n]) => `${reasonLabel(reason)} ×${n}`);
    this.reasons.textContent = reasons.length ? reasons.join(", ") : "none";
  }
}
