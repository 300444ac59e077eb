// Settings kept in chrome.storage.local, their defaults and checks; shared by the worker and the options page.

export const DEFAULTS = Object.freeze({
  relayUrl: "ws://127.0.0.1:8765/ws",
  token: "",
  profileId: "default",
  labsPattern: "https://labs.google/*",
  labsPage: "https://labs.google/fx/tools/flow",
  siteKey: "",
  keepSessionFresh: false,
});

export const SETTING_KEYS = Object.freeze(Object.keys(DEFAULTS));

// What the worker reports about itself, kept in chrome.storage.session under this key.
export const STATUS_KEY = "status";

export async function loadSettings() {
  const stored = await chrome.storage.local.get(SETTING_KEYS);
  return { ...DEFAULTS, ...stored };
}

// A Chrome match pattern such as https://labs.google/* or http://127.0.0.1:8000/* (scheme http, https or *).
const PATTERN = /^(\*|https?):\/\/(\*|(?:\*\.)?[^/*:]+)(?::(\d{1,5}))?(\/.*)$/;

export function parsePattern(pattern) {
  const match = PATTERN.exec(pattern);
  if (!match) return null;
  const [, scheme, host, port, path] = match;
  return { scheme, host, port: port ?? "", path };
}

const escape = (text) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");

// Does `url` match the match pattern? (A pattern without a port matches every port, as Chrome's do.)
export function matchesPattern(pattern, url) {
  const parts = parsePattern(pattern);
  let target;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  if (!parts) return false;
  const scheme = target.protocol.slice(0, -1);
  if (parts.scheme === "*" ? !["http", "https"].includes(scheme) : parts.scheme !== scheme) return false;
  if (parts.port && parts.port !== target.port) return false;
  const host = target.hostname;
  if (parts.host.startsWith("*.")) {
    const base = parts.host.slice(2);
    if (host !== base && !host.endsWith(`.${base}`)) return false;
  } else if (parts.host !== "*" && parts.host !== host) {
    return false;
  }
  const path = new RegExp(`^${parts.path.split("*").map(escape).join(".*")}$`);
  return path.test(target.pathname + target.search);
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

// Problems with a settings object, as [{field, message}]; empty when it can be used.
export function checkSettings(settings) {
  const problems = [];
  let relay = null;
  try {
    relay = new URL(settings.relayUrl);
  } catch {
    problems.push({ field: "relayUrl", message: "not a URL (e.g. ws://127.0.0.1:8765/ws)" });
  }
  if (relay && !["ws:", "wss:"].includes(relay.protocol)) {
    problems.push({ field: "relayUrl", message: "must start with ws:// or wss://" });
  } else if (relay && relay.protocol === "ws:" && !LOOPBACK.has(relay.hostname)) {
    problems.push({ field: "relayUrl", message: "ws:// sends the minted tokens unencrypted: use wss:// for a relay on another machine" });
  }
  if (!settings.token.trim()) problems.push({ field: "token", message: "needed: the relay's provider token" });
  if (settings.profileId && !/^[\w.:@-]{1,200}$/.test(settings.profileId)) {
    problems.push({ field: "profileId", message: "letters, digits and . _ - : @ only" });
  }
  if (!parsePattern(settings.labsPattern)) {
    problems.push({ field: "labsPattern", message: "not a match pattern such as https://labs.google/*" });
  }
  if (settings.labsPage && !matchesPattern(settings.labsPattern, settings.labsPage)) {
    problems.push({ field: "labsPage", message: "must be a page the labs pattern matches (or empty)" });
  }
  if (settings.siteKey && !/^[\w-]{10,100}$/.test(settings.siteKey)) {
    problems.push({ field: "siteKey", message: "a site key is letters, digits, - and _ (or leave it empty)" });
  }
  return problems;
}

// Why the session cookie may not be sent with these settings, or "" when it may (the switch aside).
export function sessionProblem(settings) {
  let relay = null;
  try {
    relay = new URL(settings.relayUrl);
  } catch {
    return "the relay URL is not a URL";
  }
  if (relay.protocol !== "wss:" && !(relay.protocol === "ws:" && LOOPBACK.has(relay.hostname))) {
    return "not sent: the relay URL is neither wss:// nor ws:// on this machine, and a session cookie never travels unencrypted to another host";
  }
  if (!settings.profileId) return "not sent: set the profile this browser serves (a session belongs to one profile)";
  if (!sessionHost(settings.labsPattern)) return "not sent: the labs host pattern names no single host to read the cookie of";
  return "";
}

// The host whose labs session cookie is read: the labs pattern's host (`*.example.com` gives example.com).
export function sessionHost(pattern) {
  const parts = parsePattern(pattern);
  if (!parts || parts.host === "*") return null;
  return parts.host.startsWith("*.") ? parts.host.slice(2) : parts.host;
}

// The origin pattern Chrome's permissions API takes for a labs pattern (its path replaced by /*).
export function originOf(pattern) {
  const parts = parsePattern(pattern);
  return parts ? `${parts.scheme}://${parts.host}${parts.port ? `:${parts.port}` : ""}/*` : null;
}
