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

const STATE_WORDS = { resting: "resting after a hard block", out_of_quota: "out of quota" };

/** An account's state in words: `ready`, or `paused, 2 min left (why)`; then the models out of their daily
 * quota on it, if any (it takes the other models). */
export function accountState(a) {
  const word = STATE_WORDS[a.state] ?? String(a.state ?? "unknown").replaceAll("_", " ");
  const left = a.seconds_left == null ? "" : `, ${duration(a.seconds_left)} left`;
  const models = Object.keys(a.models_out_of_quota ?? {});
  const out = models.length ? `; daily quota used up for ${models.join(", ")}` : "";
  return `${word}${left}${a.reason ? ` (${a.reason})` : ""}${out}`;
}

/** The accounts table's columns: a heading and what each account shows under it. A new account field (credits,
 * a quota reset) is one more entry here. */
export const ACCOUNT_COLUMNS = [
  ["Account", (a) => String(a.profile_id)],
  ["State", accountState],
  ["Active", (a) => (a.limit == null ? `${a.active}` : `${a.active} of ${a.limit}`)],
  ["Gap", (a) => `${a.gap} s`],
  ["Throttles (1 h)", (a) => String(a.throttles_last_hour)],
  ["Hard blocks", (a) => String(a.blocks_total ?? 0)],
  ["Done (24 h)", (a) => String(a.done_last_24h ?? 0)],
  ["Credits", (a) => (a.credits == null ? "not known" : String(a.credits))],
];

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
    this.accountsTable = $("accounts-table");
    this.accountsNone = $("accounts-none");
    this.accountsTable.tHead.rows[0].replaceChildren(
      ...ACCOUNT_COLUMNS.map(([heading]) => Object.assign(cell("th", heading), { scope: "col" })),
    );
  }

  connection(state, detail) {
    this.conn.dataset.state = state;
    this.conn.textContent = (CONNECTION_TEXT[state] ?? (() => state))(detail);
  }

  /** `queue_status` data. */
  queueStatus(data) {
    const waiting = (data.queued ?? 0) + (data.waiting_token ?? 0) + (data.submitting ?? 0);
    const running = (data.pending ?? 0) + (data.processing ?? 0);
    this.queue.textContent = `${waiting} waiting · ${running} running`;
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
    this.accounts(data.accounts ?? []);
  }

  /** One row per account (`queue_status` accounts); names and reasons go in as text, never as markup. */
  accounts(accounts) {
    this.accountsTable.tBodies[0].replaceChildren(
      ...accounts.map((a) => {
        const row = document.createElement("tr");
        row.dataset.state = a.state;
        row.append(...ACCOUNT_COLUMNS.map(([, text], i) => cell(i === 0 ? "th" : "td", text(a))));
        row.firstChild.scope = "row";
        return row;
      }),
    );
    this.accountsTable.hidden = accounts.length === 0;
    this.accountsNone.hidden = accounts.length > 0;
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
