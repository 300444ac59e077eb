// The history list in the DOM: date groups, one element per row, updated in place (focus survives).

import { newerFirst } from "./history.js";
import { STATUS_LABELS, clockTime, dayTitle, duration, estimate, localDay, reasonText, secondsBetween } from "./words.js";

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

/** One history row's element. */
class RowView {
  constructor(row) {
    this.node = el("li", "job");
    this.node.dataset.id = row.id;
    this.node.dataset.jobType = row.job_type;
    const head = el("div", "head");
    this.badge = el("span", "badge");
    this.prompt = el("p", "prompt");
    head.append(this.badge, this.prompt);
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
    this.buttons = {
      refresh: button("Refresh", "refresh", `Refresh status of “${short}”`),
      cancel: button("Cancel", "cancel", `Cancel “${short}”`),
      retry: button("Retry", "retry", `Retry “${short}”`),
      upscale: button("Upscale to 1080p", "upscale", `Upscale “${short}” to 1080p`),
    };
    this.actions.append(...Object.values(this.buttons));
    const body = el("div", "body");
    body.append(head, this.meta, this.bar.node, this.progressText, this.error, this.errorDetail, this.actions, this.note);
    this.node.append(body, this.media);
    this.videoUrl = null;
  }

  update(row, typical) {
    const active = row.status === "pending" || row.status === "processing";
    this.node.dataset.status = row.status;
    this.badge.className = `badge ${row.status}`;
    this.badge.textContent = STATUS_LABELS[row.status] ?? row.status;
    this.prompt.textContent = row.prompt;
    const parts = [row.job_type === "upscale" ? "Upscale" : null, row.model, row.aspect_ratio, clockTime(row.created_at)];
    if (row.status === "completed" && row.started_at && row.completed_at) {
      parts.push(`took ${duration(secondsBetween(row.started_at, row.completed_at))}`);
    }
    if (row.retry_of) parts.push("retry");
    this.meta.textContent = parts.filter(Boolean).join(" · ");
    this.bar.node.hidden = !active;
    this.progressText.hidden = !active;
    if (active) this.tick(row, typical);
    const failed = row.status === "failed" || row.status === "cancelled";
    this.error.hidden = !failed;
    this.errorDetail.hidden = !failed || !row.error_message || row.error_message === row.error_reason;
    if (failed) {
      this.error.textContent = reasonText(row.error_reason);
      this.errorDetail.textContent = row.error_message ?? "";
    }
    this.buttons.refresh.hidden = !active;
    this.buttons.cancel.hidden = !active;
    this.buttons.retry.hidden = !failed;
    this.buttons.upscale.hidden = !(row.status === "completed" && row.job_type === "generation" && row.video_url);
    this.showVideo(row.status === "completed" ? row.video_url : null);
  }

  tick(row, typical) {
    const { fraction, text } = estimate(row, typical);
    this.bar.set(fraction, text, row.status);
    this.progressText.textContent = text;
  }

  showVideo(url) {
    if (url === this.videoUrl) return;
    this.videoUrl = url;
    this.media.replaceChildren();
    if (!url) return;
    const video = el("video");
    video.controls = true;
    video.preload = "none";
    video.src = url;
    video.setAttribute("aria-label", "Video");
    const link = el("a", "open", "Open video");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    this.media.append(video, link);
  }
}

/** The groups and their rows, kept in the server's order (newest first). */
export class HistoryList {
  constructor(container) {
    this.container = container;
    this.views = new Map();
    this.groups = new Map();
  }

  clear() {
    this.container.replaceChildren();
    this.views.clear();
    this.groups.clear();
  }

  get size() {
    return this.views.size;
  }

  /** Create or update a row's element; `typical` is the model's median completion time in seconds. */
  show(row, typical) {
    let view = this.views.get(row.id);
    if (view === undefined) {
      view = new RowView(row);
      this.views.set(row.id, view);
      view.update(row, typical);
      this.insert(view, row);
      return;
    }
    view.row = row;
    view.update(row, typical);
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
      if (row.status === "pending" || row.status === "processing") view.tick(row, typicalOf(row));
    }
  }

  insert(view, row) {
    view.row = row;
    const list = this.group(localDay(row.created_at));
    const after = [...list.children].find((item) => newerFirst(row, this.views.get(item.dataset.id).row) < 0);
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
