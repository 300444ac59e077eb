// Plain words for the page: failure reasons, durations, dates, and the progress estimate.

const CONTENT = "Flow's content filter refused this prompt";

const REASONS = {
  UNSAFE_GENERATION: `${CONTENT}. Rephrase it and try again.`,
  PROMINENT_PEOPLE_FILTER_FAILED: `${CONTENT}: it seems to name or show a well-known person.`,
  SEXUAL: `${CONTENT} as sexual content.`,
  MINOR: `${CONTENT}: it may involve a minor.`,
  VIOLENCE_FILTER: `${CONTENT} as violent.`,
  DANGER_FILTER: `${CONTENT} as dangerous.`,
  AUDIO_FILTERED: "Flow's filter blocked the audio of this video.",
  IP_INPUT_IMAGE: "Flow refused the input image (it may be protected material).",
  NON_ENGLISH_PROMPT: "Flow only accepts this model's prompts in English.",
  MODEL_ACCESS_DENIED: "This account's plan cannot use the chosen model.",
  USER_QUOTA_REACHED: "The account has run out of credits.",
  PER_MODEL_DAILY_QUOTA_REACHED: "The model's daily quota is used up; try again tomorrow or use another model.",
  MEDIA_GENERATION_STATUS_FAILED: "Flow reported that the generation failed.",
  MEDIA_GENERATION_CANCELED: "The generation was cancelled on Flow.",
  timeout: "No result came in time, so the relay stopped waiting for it.",
  cancelled: "Cancelled at your request.",
  interrupted_submission:
    "The answer to this submission was lost, so it may have started anyway. Check before retrying (details below).",
  quota_exhausted: "The account's credits or quota ran out.",
  captcha_rejected: "Flow kept rejecting the reCAPTCHA check for this account.",
  invalid_request: "The request was refused as invalid.",
  operation_lost: "The service no longer knows this generation, so it will never finish. Retry makes a new one.",
  safety_filtered: "The Gemini API's safety filters removed the video.",
  generation_failed: "The Gemini API reported that the generation failed.",
  key_refused: "The Gemini API refused this profile's key.",
};

/** A sentence for a failure reason (Flow's own `PUBLIC_ERROR_*` names or the relay's). */
export function reasonText(reason) {
  if (!reason) return "The job failed for an unknown reason.";
  const key = reason.startsWith("PUBLIC_ERROR_") ? reason.slice("PUBLIC_ERROR_".length) : reason;
  return REASONS[reason] ?? REASONS[key] ?? `The job failed (${reason}).`;
}

/** A short label for a reason, for the failure summary. */
export function reasonLabel(reason) {
  if (!reason) return "unknown";
  return reason.replace(/^PUBLIC_ERROR_/, "").replaceAll("_", " ").toLowerCase();
}

export const STATUS_LABELS = {
  pending: "Pending",
  processing: "Processing",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

/** Whether a status is still moving (Flow or the relay's queue holds the job). */
export function isActive(status) {
  return status === "pending" || status === "processing";
}

/** People's names for Flow's model keys; a key not listed is shown as it is. */
const MODEL_NAMES = {
  veo_3_1_t2v_fast: "Veo 3.1 Fast",
  veo_3_1_t2v: "Veo 3.1",
  veo_3_0_t2v_fast: "Veo 3 Fast",
  veo_3_0_t2v: "Veo 3",
  veo_3_1_upsampler_1080p: "Veo 3.1 upscaler (1080p)",
  veo_3_1_upsampler_4k: "Veo 3.1 upscaler (4K)",
};

export function modelName(key) {
  return MODEL_NAMES[key] ?? key;
}

/** The browser's IANA time zone: `get_history` groups and filters days in it, as the page shows them. */
export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** "850 ms", "12 s", "1 min 5 s", "2 h 3 min". */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    const rest = Math.round(seconds - minutes * 60);
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

/** Seconds between two ISO times (or from `from` to now). */
export function secondsBetween(from, to = null) {
  const end = to ? Date.parse(to) : Date.now();
  return Math.max(0, (end - Date.parse(from)) / 1000);
}

/** The local calendar date (YYYY-MM-DD) of an ISO time: the history's grouping key. */
export function localDay(iso) {
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** "Today", "Yesterday" or a readable date for a YYYY-MM-DD day. */
export function dayTitle(day) {
  const today = localDay(new Date().toISOString());
  const yesterday = localDay(new Date(Date.now() - 86400000).toISOString());
  if (day === today) return "Today";
  if (day === yesterday) return "Yesterday";
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d).toLocaleDateString(undefined, {
    weekday: "long", year: "numeric", month: "long", day: "numeric",
  });
}

export function clockTime(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Fallback typical completion times (s) until the relay's analytics know better. */
const FALLBACK_TYPICAL = { generation: 90, upscale: 60 };

/**
 * How far along a running job probably is, from its elapsed time and the model's median completion time:
 * linear to 90% at the median, then creeping towards 99% (it never claims to be done before it is).
 */
export function estimate(row, typical) {
  const known = typical !== undefined;
  const median = known ? Math.max(typical, 0.1) : FALLBACK_TYPICAL[row.job_type] ?? 90;
  if (row.status === "completed") return { fraction: 1, text: "" };
  if (!row.started_at) return { fraction: null, text: "Waiting in the relay's queue" };
  const elapsed = secondsBetween(row.started_at);
  const ratio = elapsed / median;
  const fraction = ratio <= 1 ? 0.9 * ratio : 0.9 + 0.09 * (1 - Math.exp(1 - ratio));
  const verb = row.status === "pending" ? "Waiting to start" : "Generating";
  const soFar = elapsed < 1 ? "just submitted" : `${duration(elapsed)} so far`;
  let text;
  if (!known) text = `${verb} · ${soFar}`;
  else if (ratio <= 1) text = `${verb} · ${soFar} · about ${duration(Math.max(1, median - elapsed))} left`;
  else text = `${verb} · ${soFar} · longer than the usual ${duration(median)}`;
  return { fraction, text };
}
