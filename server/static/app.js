// The dashboard: authentication, the snapshot + subscription, forms, row actions and the status bar.

import { Connection } from "./connection.js";
import { showExtensionToken } from "./extension-token.js";
import { CHANNELS, History } from "./history.js";
import { Bar, HistoryList } from "./rows.js";
import { StatusBar } from "./statusbar.js";
import { STATUS_LABELS, browserZone, localDay } from "./words.js";

const TOKEN_KEY = "veo-relay.token";
const VIEW_KEY = "veo-relay.view";
const SEARCH_PAUSE_MS = 300;
const PAGE = 50;
const QUEUE_EVERY_MS = 2000;
const ANALYTICS_EVERY_MS = 15000;
const MAX_BATCH_VIEWS = 5;

const $ = (id) => document.getElementById(id);

/** The token from `#token=T` (kept in local storage and cleared from the address bar), or the stored one. */
function takeToken() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    localStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(TOKEN_KEY);
}

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dash-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function short(prompt) {
  return prompt.length > 60 ? `“${prompt.slice(0, 60)}…”` : `“${prompt}”`;
}

function announce(text) {
  const region = $("announce");
  const line = document.createElement("p");
  line.textContent = text;
  region.append(line);
  while (region.childElementCount > 3) region.firstElementChild.remove();
}

/** The history filters as `get_history` fields (only those set), read from the form. */
function readFilters() {
  const fields = {};
  const search = $("search").value.trim();
  if (search) fields.search = search;
  if ($("status-filter").value) fields.status = $("status-filter").value;
  if ($("since").value) fields.since = $("since").value;
  if ($("until").value) fields.until = $("until").value;
  if (fields.since || fields.until) fields.tz = browserZone();
  return fields;
}

/** Whether a row passes the filters (the server's rules, for rows that arrive as deltas). */
function passes(row, filters) {
  if (filters.search && !row.prompt.toLowerCase().includes(filters.search.toLowerCase())) return false;
  if (filters.status && row.status !== filters.status) return false;
  const day = localDay(row.created_at);
  if (filters.since && day < filters.since) return false;
  if (filters.until && day > filters.until) return false;
  return true;
}

class Dashboard {
  constructor(token) {
    this.filters = {};
    this.reads = 0;
    this.store = new History((row) => passes(row, this.filters));
    this.list = new HistoryList($("groups"), token);
    this.list.clear();
    $("batches").replaceChildren();
    this.status = new StatusBar(document);
    this.typical = new Map();
    this.batchViews = new Map();
    this.buffer = null;
    this.synced = false;
    this.wasConnected = false;
    this.analyticsTimer = null;
    const query = `?token=${encodeURIComponent(token)}`;
    this.conn = new Connection({
      url: `${location.origin.replace(/^http/, "ws")}/ws${query}`,
      probeUrl: `/ws${query}`,
      onOpen: () => this.sync(),
      onDeltas: (deltas) => this.deltas(deltas),
      onState: (state, detail) => this.connection(state, detail),
    });
  }

  start() {
    for (const id of ["submit", "history", "forget", "status"]) $(id).hidden = false;
    this.intervals = [
      setInterval(() => this.pollQueue(), QUEUE_EVERY_MS),
      setInterval(() => this.pollAnalytics(), ANALYTICS_EVERY_MS),
      setInterval(() => this.list.tick((row) => this.typicalOf(row)), 1000),
    ];
    this.conn.start();
  }

  stop() {
    this.intervals?.forEach(clearInterval);
    this.conn.stop();
  }

  typicalOf(row) {
    return this.typical.get(`${row.model}|${row.job_type}`);
  }

  /** After every (re)open: resume after the last position, or re-read the snapshot when the server cannot. */
  async sync() {
    this.synced = false;
    this.buffer = [];
    if (this.store.position === null) await this.snapshot();
    const { data } = await this.conn.request("subscribe", { channels: CHANNELS, after: this.store.position });
    if (!data.resumed) {
      this.store.reset();
      this.list.clear();
      await this.snapshot();
      await Promise.all([...this.batchViews.keys()].map((id) => this.readBatch(id, true)));
    }
    const held = this.buffer;
    this.buffer = null;
    this.deltas(held);
    this.synced = true;
    this.pollQueue();
    this.pollAnalytics();
  }

  async snapshot() {
    const read = ++this.reads;
    const { data, position } = await this.conn.request("get_history", { limit: PAGE, ...this.filters });
    if (read !== this.reads) return; // the filters changed meanwhile: a newer read replaces this one
    for (const row of this.store.addPage(data, position)) this.list.show(row, this.typicalOf(row));
    this.store.seen(position);
    this.pagingChanged();
  }

  /** Re-read the first page with the form's filters (the subscription goes on: deltas keep the rows live). */
  async filter() {
    const filters = readFilters();
    if (JSON.stringify(filters) === JSON.stringify(this.filters)) return;
    this.filters = filters;
    $("clear-filters").hidden = Object.keys(filters).length === 0;
    this.store.clearRows();
    this.list.clear();
    $("filter-summary").textContent = "Searching…";
    if (!this.synced) return; // the next sync reads the page with these filters
    this.buffer ??= []; // deltas wait for the page, so rows beyond it stay out (as in sync)
    const read = this.reads + 1;
    try {
      await this.snapshot();
    } catch (error) {
      $("filter-summary").textContent = `Could not search: ${error.message}`;
    } finally {
      if (read === this.reads) {
        const held = this.buffer;
        this.buffer = null;
        this.deltas(held);
      }
    }
  }

  async loadMore() {
    const more = $("more");
    more.disabled = true;
    try {
      const read = this.reads;
      const fields = { limit: PAGE, before: this.store.next, ...this.filters };
      const { data, position } = await this.conn.request("get_history", fields);
      if (read !== this.reads) return;
      const rows = this.store.addPage(data, position);
      for (const row of rows) this.list.show(row, this.typicalOf(row));
      announce(`${rows.length} older videos loaded`);
    } catch (error) {
      announce(`Could not load more: ${error.message}`);
    } finally {
      more.disabled = false;
      this.pagingChanged();
    }
  }

  pagingChanged() {
    $("more").hidden = !this.store.next;
    const filtered = Object.keys(this.filters).length > 0;
    const empty = $("history-empty");
    empty.hidden = this.list.size > 0;
    empty.textContent = filtered
      ? "No videos match these filters."
      : "No videos yet. Write a prompt above and press Generate.";
    const count = this.list.size;
    $("filter-summary").textContent = !filtered || count === 0
      ? ""
      : `${count}${this.store.next ? "+" : ""} ${count === 1 ? "video matches" : "videos match"}`;
  }

  deltas(deltas) {
    if (this.buffer !== null) {
      this.buffer.push(...deltas);
      return;
    }
    for (const delta of deltas) {
      const change = this.store.apply(delta);
      if (change === null) continue;
      if (change.kind === "batch") {
        if (this.batchViews.has(change.row.batch_id) || change.previous === null) this.showBatch(change.row);
        continue;
      }
      const { row, previous } = change;
      this.list.show(row, this.typicalOf(row));
      if (previous !== null && previous.status !== row.status) {
        if (row.status === "completed" || row.status === "failed" || row.status === "cancelled") {
          announce(`${short(row.prompt)}: ${STATUS_LABELS[row.status]}`);
          this.analyticsSoon();
        }
      }
    }
    this.pagingChanged();
  }

  connection(state, detail) {
    this.status.connection(state, detail);
    if (state === "connected" && this.wasConnected === false) announce("Connected to the relay");
    if (state === "reconnecting" && this.wasConnected) announce("Connection lost; reconnecting");
    if (state === "connected") this.wasConnected = true;
    if (state === "reconnecting") this.wasConnected = false;
    if (state === "refused") refused(this);
  }

  async pollQueue() {
    if (!this.synced || !this.conn.connected) return;
    try {
      this.status.queueStatus((await this.conn.request("queue_status")).data);
    } catch (error) {
      console.warn("queue_status failed", error);
    }
  }

  async pollAnalytics() {
    if (!this.synced || !this.conn.connected) return;
    try {
      const { data } = await this.conn.request("get_analytics", { window: "all" });
      this.typical = new Map((data.completion ?? []).map((c) => [`${c.model}|${c.job_type}`, c.p50]));
      this.status.analytics(data);
      this.list.tick((row) => this.typicalOf(row));
    } catch (error) {
      console.warn("get_analytics failed", error);
    }
  }

  analyticsSoon() {
    clearTimeout(this.analyticsTimer);
    this.analyticsTimer = setTimeout(() => {
      this.pollAnalytics();
      this.pollQueue();
    }, 1000);
  }

  // --- batches ---------------------------------------------------------------------------------------

  /** Read a batch's row; one the server does not know (yet, or any more) is left to the deltas, or dropped. */
  async readBatch(batchId, dropMissing = false) {
    try {
      const { data, position } = await this.conn.request("get_batch", { batch_id: batchId });
      if (this.store.putBatch(data, position)) this.showBatch(data);
    } catch (error) {
      if (error.code !== "not_found") throw error;
      if (dropMissing) {
        this.batchViews.get(batchId)?.node.remove();
        this.batchViews.delete(batchId);
      }
    }
  }

  showBatch(row) {
    let view = this.batchViews.get(row.batch_id);
    if (view === undefined) {
      const node = document.createElement("li");
      node.dataset.batch = row.batch_id;
      const text = document.createElement("p");
      const bar = new Bar("Batch progress");
      node.append(text, bar.node);
      view = { node, text, bar };
      this.batchViews.set(row.batch_id, view);
      $("batches").prepend(node);
      for (const [id, old] of [...this.batchViews].slice(0, -MAX_BATCH_VIEWS)) {
        old.node.remove();
        this.batchViews.delete(id);
      }
    }
    const cancelled = row.cancelled ?? 0;
    const done = row.completed + row.failed + cancelled;
    const running = row.pending + row.processing;
    const stopped = cancelled ? `, ${cancelled} cancelled` : "";
    view.text.textContent =
      `Batch of ${row.total}: ${row.completed} completed, ${row.failed} failed${stopped}, ${running} in progress`;
    view.node.dataset.done = String(done === row.total);
    view.bar.set(row.total ? done / row.total : 0, view.text.textContent, done === row.total ? "completed" : "processing");
    if (done === row.total && row.total > 0 && view.announced !== true) {
      view.announced = true;
      announce(view.text.textContent);
    }
  }

  // --- user actions ----------------------------------------------------------------------------------

  async submit(event) {
    event.preventDefault();
    const result = $("submit-result");
    const button = $("generate");
    const options = { aspect_ratio: $("aspect").value, priority: $("priority").value, request_key: randomKey() };
    button.disabled = true;
    try {
      if ($("batch").checked) {
        const prompts = $("prompt").value.split("\n").map((line) => line.trim()).filter(Boolean);
        const delayMs = Math.round(Number($("delay").value) * 1000);
        if (!prompts.length) throw new Error("write at least one prompt");
        const { data } = await this.conn.request("batch_generate", { prompts, delay_ms: delayMs, ...options });
        result.textContent = `Batch of ${prompts.length} submitted.`;
        this.readBatch(data.batch_id).catch((error) => console.warn("get_batch failed", error));
      } else {
        const prompt = $("prompt").value.trim();
        if (!prompt) throw new Error("write a prompt");
        await this.conn.request("generate", { prompt, ...options });
        result.textContent = "Submitted.";
      }
      $("prompt").value = "";
      this.pollQueue();
    } catch (error) {
      result.textContent = `Not submitted: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  async act(target) {
    const action = target.dataset.action;
    const id = target.closest("li.job")?.dataset.id;
    if (!action || !id) return;
    const row = this.store.rows.get(id);
    const doing = { refresh: "Checking…", cancel: "Cancelling…", retry: "Retrying…", upscale: "Asking for 1080p…" };
    this.list.note(id, doing[action]);
    target.disabled = true;
    try {
      if (action === "refresh" || action === "cancel") {
        const { data, position } = await this.conn.request(action, { generation_id: id });
        if (this.store.put(data, position)) this.list.show(data, this.typicalOf(data));
        this.list.note(id, action === "refresh" ? `Checked: ${STATUS_LABELS[data.status]}` : "Cancelled");
      } else if (action === "retry") {
        await this.conn.request("retry", { generation_id: id });
        this.list.note(id, "Retry submitted: see the new row at the top");
      } else if (action === "upscale") {
        await this.conn.request("upscale", { generation_id: id, resolution: "1080p", request_key: `up-${id}-1080p` });
        this.list.note(id, "Upscale to 1080p submitted: see the new row at the top");
      }
      announce(`${short(row?.prompt ?? "")}: ${this.list.views.get(id)?.note.textContent ?? ""}`);
    } catch (error) {
      this.list.note(id, `${action} failed: ${error.message}`, true);
      announce(`${action} failed: ${error.message}`);
    } finally {
      target.disabled = false;
    }
  }
}

function showAuth(reason) {
  $("auth").hidden = false;
  if (reason) $("auth-reason").textContent = reason;
  $("token-input").focus();
}

function refused(dashboard) {
  dashboard.stop();
  for (const id of ["submit", "history", "forget", "status"]) $(id).hidden = true;
  localStorage.removeItem(TOKEN_KEY);
  showAuth("The relay refused this token. Paste the current one (see the token file in the data directory).");
}

function main() {
  let dashboard = null;
  const begin = (token) => {
    $("auth").hidden = true;
    dashboard = new Dashboard(token);
    dashboard.start();
  };
  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    localStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    begin(token);
  });
  showExtensionToken((type) => (dashboard ? dashboard.conn.request(type) : Promise.reject(new Error("not connected"))));
  $("forget").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  $("submit-form").addEventListener("submit", (event) => dashboard?.submit(event));
  $("batch").addEventListener("change", () => {
    $("delay-field").hidden = !$("batch").checked;
  });
  let searchTimer = null;
  const refilter = () => {
    clearTimeout(searchTimer);
    dashboard?.filter();
  };
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refilter();
  });
  $("filters").addEventListener("reset", () => setTimeout(refilter));
  $("filters").addEventListener("change", refilter);
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(refilter, SEARCH_PAUSE_MS);
  });
  const showView = (view) => {
    $("groups").classList.toggle("gallery", view === "gallery");
    $("view-list").setAttribute("aria-pressed", String(view !== "gallery"));
    $("view-gallery").setAttribute("aria-pressed", String(view === "gallery"));
  };
  for (const view of ["list", "gallery"]) {
    $(`view-${view}`).addEventListener("click", () => {
      localStorage.setItem(VIEW_KEY, view);
      showView(view);
    });
  }
  showView(localStorage.getItem(VIEW_KEY));
  $("groups").addEventListener("click", (event) => {
    const target = event.target.closest("button[data-action]");
    if (target && dashboard) dashboard.act(target);
  });
  $("more").addEventListener("click", () => dashboard?.loadMore());
  const token = takeToken();
  if (token) begin(token);
  else showAuth();
}

main();
