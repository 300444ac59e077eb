// The history list in the DOM: date groups, one element per row, updated in place (focus survives).

import {
  STATUS_LABELS, clockTime, dayTitle, duration, estimate, isActive, localDay, modelName, reasonText, secondsBetween,
} from "./words.js";

function el(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function button(label, action, title) {
  const node = el("button", "small", label);
  node.type = "button";
  node.dataset.action = action;
  node.setAttribute("aria-label", title);
  return node;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
/** The Gemini API's download of a file (`…/files/ID:download`, docs/PROTOCOL.md): it needs the API key. */
const KEYED_DOWNLOAD = /\/files\/[^/]+:download$/;

/**
 * The address a row's `video_url` may be shown and linked at, else null: https:, or this server's own /videos/;
 * plain http only on loopback while the dashboard is on loopback too (the built-in simulator), where it never
 * crosses the network. Anything else (javascript:, data:, http to another host) is not shown at all, nor a
 * Gemini API download, which a browser cannot open without the key (the relay's copy is shown once kept).
 */
export function videoAddress(url, here) {
  let parsed;
  try {
    parsed = new URL(url, here.href);
  } catch {
    return null;
  }
  if (KEYED_DOWNLOAD.test(parsed.pathname)) return null;
  if (parsed.protocol === "https:" && !parsed.username && !parsed.password) return parsed.href;
  if (parsed.origin === here.origin && parsed.pathname.startsWith("/videos/")) return parsed.href;
  if (parsed.protocol === "http:" && LOOPBACK.has(parsed.hostname) && LOOPBACK.has(here.hostname)) return parsed.href;
  return null;
}

/** A progress bar the CSP allows (its width is set through the CSSOM, never a style attribute). */
export class Bar {
  constructor(label) {
    this.node = el("div", "bar");
    this.node.setAttribute("role", "progressbar");
    this.node.setAttribute("aria-label", label);
    this.node.setAttribute("aria-valuemin", "0");
    this.node.setAttribute("aria-valuemax", "100");
    this.fill = el("div", "fill");
    this.node.append(this.fill);
  }

  /** `fraction` in 0..1, or null for "unknown yet" (an indeterminate animation). */
  set(fraction, text, state) {
    this.node.dataset.state = state;
    if (fraction === null) {
      this.node.removeAttribute("aria-valuenow");
      this.fill.style.width = "";
    } else {
      const percent = Math.round(fraction * 100);
      const wasUnknown = !this.node.hasAttribute("aria-valuenow");
      if (wasUnknown) this.fill.classList.add("jump"); // no slide from the indeterminate animation's width
      this.node.setAttribute("aria-valuenow", String(percent));
      this.fill.style.width = `${percent}%`;
      if (wasUnknown) {
        void this.fill.offsetWidth;
        this.fill.classList.remove("jump");
      }
    }
    this.node.setAttribute("aria-valuetext", text || STATUS_LABELS[state] || state);
  }
}

/** Prompts longer than this (or of more lines) are clipped to a few lines until expanded. */
const LONG_PROMPT_CHARS = 240;
const LONG_PROMPT_LINES = 3;

/** Whether a prompt is long enough to clip. */
export function isLongPrompt(text) {
  return text.length > LONG_PROMPT_CHARS || text.split("\n").length > LONG_PROMPT_LINES;
}

/**
 * Display order: newest first, as the server sends rows, except that a batch's items (which share a
 * millisecond and ascend by id in prompt order) read top to bottom in the order they were written.
 */
export function displayOrder(a, b) {
  if (a.created_at !== b.created_at) return a.created_at > b.created_at ? -1 : 1;
  const groupA = a.batch_id ?? a.id;
  const groupB = b.batch_id ?? b.id;
  if (groupA !== groupB) return groupA > groupB ? -1 : 1;
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

/** A completed video: its first frame once the browser has it, a clear placeholder until then (or instead). */
class Player {
  constructor(url, shape, label) {
    this.node = el("div", "player");
    this.node.dataset.state = "loading";
    this.node.dataset.shape = shape;
    const video = el("video");
    video.controls = true;
    video.preload = "metadata";
    video.playsInline = true;
    video.src = url;
    video.setAttribute("aria-label", label);
    const placeholder = el("div", "placeholder");
    placeholder.setAttribute("aria-hidden", "true");
    this.caption = el("span", "caption", "Video ready");
    placeholder.append(el("span", "play", "▶"), this.caption);
    video.addEventListener("loadeddata", () => this.state("ready"));
    video.addEventListener("play", () => this.state("playing"));
    video.addEventListener("error", () => {
      this.state("unavailable");
      this.caption.textContent = "No preview here: open the video";
    });
    this.node.append(placeholder, video);
  }

  state(name) {
    if (this.node.dataset.state !== "unavailable") this.node.dataset.state = name;
  }
}

/** One history row's element. */
class RowView {
  constructor(row, token) {
    this.token = token;
    this.node = el("li", "job");
    this.node.dataset.id = row.id;
    this.node.dataset.jobType = row.job_type;
    const head = el("div", "head");
    this.badge = el("span", "badge");
    this.prompt = el("p", "prompt");
    this.prompt.id = `prompt-${row.id}`;
    head.append(this.badge, this.prompt);
    this.expand = el("button", "small expand");
    this.expand.type = "button";
    this.expand.setAttribute("aria-controls", this.prompt.id);
    this.expand.addEventListener("click", () => this.setExpanded(this.expand.getAttribute("aria-expanded") !== "true"));
    this.meta = el("p", "meta");
    this.bar = new Bar("Progress");
    this.progressText = el("p", "progress-text");
    this.error = el("p", "error");
    this.errorDetail = el("p", "error-detail");
    this.media = el("div", "media");
    this.actions = el("div", "actions");
    this.note = el("p", "note");
    this.note.hidden = true;
    const short = row.prompt.length > 40 ? `${row.prompt.slice(0, 40)}…` : row.prompt;
    this.short = short;
    this.buttons = {
      refresh: button("Refresh", "refresh", `Refresh status of “${short}”`),
      cancel: button("Cancel", "cancel", `Cancel “${short}”`),
      retry: button("Retry", "retry", `Retry “${short}”`),
      upscale: button("Upscale to 1080p", "upscale", `Upscale “${short}” to 1080p`),
    };
    this.actions.append(...Object.values(this.buttons));
    const body = el("div", "body");
    body.append(head, this.expand, this.meta, this.bar.node, this.progressText, this.error, this.errorDetail, this.actions, this.note);
    this.node.append(body, this.media);
    this.videoUrl = null;
    this.promptText = null;
  }

  setExpanded(open) {
    this.prompt.classList.toggle("clipped", !open);
    this.prompt.classList.toggle("open", open && !this.expand.hidden);
    this.expand.setAttribute("aria-expanded", String(open));
    this.expand.textContent = open ? "Show less" : `Show full prompt (${this.promptText.length.toLocaleString()} characters)`;
  }

  update(row, typical, upscaled) {
    const active = isActive(row.status);
    this.node.dataset.status = row.status;
    this.badge.className = `badge ${row.status}`;
    this.badge.textContent = STATUS_LABELS[row.status] ?? row.status;
    if (row.prompt !== this.promptText) {
      this.promptText = row.prompt;
      this.prompt.textContent = row.prompt;
      this.expand.hidden = !isLongPrompt(row.prompt);
      this.setExpanded(this.expand.hidden);
    }
    const parts = [row.job_type === "upscale" ? "Upscale" : null, modelName(row.model), row.aspect_ratio, clockTime(row.created_at)];
    if (row.status === "completed" && row.started_at && row.completed_at) {
      parts.push(`took ${duration(secondsBetween(row.started_at, row.completed_at))}`);
    }
    if (row.retry_of) parts.push("retry");
    if (upscaled) parts.push("upscaled");
    this.meta.textContent = parts.filter(Boolean).join(" · ");
    this.bar.node.hidden = !active;
    this.progressText.hidden = !active;
    if (active) this.tick(row, typical);
    const failed = row.status === "failed"; // a cancelled job's badge says all there is to say
    this.error.hidden = !failed;
    this.errorDetail.hidden = !failed || !row.error_message || row.error_message === row.error_reason;
    if (failed) {
      this.error.textContent = reasonText(row.error_reason);
      this.errorDetail.textContent = row.error_message ?? "";
    }
    this.buttons.refresh.hidden = !active;
    this.buttons.cancel.hidden = !active;
    this.buttons.retry.hidden = !(failed || row.status === "cancelled");
    this.buttons.upscale.hidden =
      upscaled || !(row.status === "completed" && row.job_type === "generation" && row.video_url);
    // The relay's own copy when it kept one (Flow's signed links expire within hours, the Gemini API's need the
    // key), else the backend's link where allowed.
    const kept = row.video_stored_at && this.token ? `${location.origin}/videos/${row.id}?token=${encodeURIComponent(this.token)}` : null;
    const video = row.status === "completed" ? kept ?? (row.video_url ? videoAddress(row.video_url, window.location) : null) : null;
    this.showVideo(video, row.aspect_ratio);
  }

  tick(row, typical) {
    const { fraction, text } = estimate(row, typical);
    this.bar.set(fraction, text, row.status);
    this.progressText.textContent = text;
  }

  showVideo(url, shape) {
    if (url === this.videoUrl) return;
    this.videoUrl = url;
    this.media.replaceChildren();
    if (!url) return;
    const player = new Player(url, shape, `Video of “${this.short}”`);
    const link = el("a", "open", "Open video");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    this.media.append(player.node, link);
  }
}

/** The groups and their rows, kept in the server's order (newest first). */
export class HistoryList {
  /** `token` authorizes the kept videos' URLs (`/videos/ID?token=...`). */
  constructor(container, token = null) {
    this.container = container;
    this.token = token;
    this.views = new Map();
    this.groups = new Map();
    this.upscaled = new Set();
  }

  clear() {
    this.container.replaceChildren();
    this.views.clear();
    this.groups.clear();
    this.upscaled.clear();
  }

  get size() {
    return this.views.size;
  }

  /** Create or update a row's element; `typical` is the model's median completion time in seconds. */
  show(row, typical) {
    let view = this.views.get(row.id);
    if (view === undefined) {
      view = new RowView(row, this.token);
      this.views.set(row.id, view);
      view.update(row, typical, this.upscaled.has(row.id));
      this.insert(view, row);
    } else {
      view.row = row;
      view.update(row, typical, this.upscaled.has(row.id));
    }
    const source = row.job_type === "upscale" ? row.source_generation_id : null;
    if (source && !this.upscaled.has(source)) {
      this.upscaled.add(source);
      const sourceView = this.views.get(source);
      if (sourceView) sourceView.update(sourceView.row, undefined, true);
    }
  }

  /** A short message under a row (the outcome of its buttons); empty text hides it. */
  note(id, text, isError = false) {
    const view = this.views.get(id);
    if (view === undefined) return;
    view.note.hidden = !text;
    view.note.textContent = text;
    view.note.classList.toggle("bad", isError);
  }

  /** Move every running row's progress on (called about once a second). */
  tick(typicalOf) {
    for (const view of this.views.values()) {
      const row = view.row;
      if (isActive(row.status)) view.tick(row, typicalOf(row));
    }
  }

  insert(view, row) {
    view.row = row;
    const list = this.group(localDay(row.created_at));
    const after = [...list.children].find((item) => displayOrder(row, this.views.get(item.dataset.id).row) < 0);
    list.insertBefore(view.node, after ?? null);
  }

  group(day) {
    const found = this.groups.get(day);
    if (found) return found;
    const section = el("section", "day");
    section.dataset.day = day;
    const headingId = `day-${day}`;
    const title = dayTitle(day);
    const heading = el("h3");
    heading.id = headingId;
    const time = el("time", "", title);
    time.dateTime = day;
    heading.append(time);
    if (title === "Today" || title === "Yesterday") heading.append(" ", el("span", "date", day));
    const list = el("ul", "jobs");
    list.setAttribute("aria-labelledby", headingId);
    section.append(heading, list);
    const later = [...this.container.children].find((node) => node.dataset.day < day);
    this.container.insertBefore(section, later ?? null);
    this.groups.set(day, list);
    return list;
  }
}
