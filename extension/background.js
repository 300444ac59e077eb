// The service worker: one websocket to the relay, registered as the token provider for this browser's
// profile; each captcha_request is answered with a token minted in a labs tab.
//
// Trust: the worker connects without sending its token (`?provider=proof`) and, before anything secret
// (a token, the session cookie) goes out, checks the relay's proof that it knows the provider token
// (proof.js, docs/PROTOCOL.md); then it proves its own knowledge and registers. Whatever else answers at the
// relay URL (a process that took the port while the relay was down) gets neither the token nor anything
// minted. Only allow-listed actions are minted, at most MINTS_PER_MINUTE a minute (guard.js).
//
// MV3 service workers are stopped when idle. Since Chrome 116 websocket traffic counts as activity, so a
// small request every 20 s (a fresh challenge: the relay proves itself again, and says how many providers it
// has, for the options page) keeps the worker and its connection alive; should Chrome stop the worker anyway (browser shutdown, update, a crash), an alarm
// wakes it every 30 s and it reconnects. While it is down the relay has no provider and submissions wait.
//
// Optionally (off by default) it also keeps the relay's copy of the profile's labs session cookie fresh
// (session.js).

import { actionProblem, MintBudget } from "./guard.js";
import { mintToken } from "./mint.js";
import { newNonce, providerProof, relayProof, sameProof } from "./proof.js";
import { SessionKeeper } from "./session.js";
import { checkSettings, loadSettings, SETTING_KEYS, STATUS_KEY } from "./settings.js";

const KEEPALIVE_MS = 20_000;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
const ALARM = "veo-relay-wake";

let socket = null;
let connecting = null;
let retryTimer = null;
let keepaliveTimer = null;
let failures = 0;
let sequence = 0;
let settings = null;
let trusted = null; // the socket whose relay has proven it knows the provider token
const challenges = new Map(); // challenge request id -> the nonce it carried
const budget = new MintBudget();

const status = {
  state: "starting", // unconfigured | connecting | registered | disconnected | refused | untrusted
  message: "",
  relayUrl: "",
  profileId: "",
  providerId: "",
  relayProviders: null,
  requests: 0,
  answered: 0,
  failed: 0,
  refused: 0, // token requests not answered: an action outside the allow-list, or over the per-minute cap
  lastRequestAt: null,
  lastError: "",
  session: { state: "off", message: "off" }, // the session bridge: never the cookie itself
  updatedAt: null,
};

const restored = chrome.storage.session.get(STATUS_KEY).then((stored) => {
  const previous = stored[STATUS_KEY] ?? {};
  for (const key of ["requests", "answered", "failed", "refused", "lastRequestAt", "lastError"]) {
    if (previous[key] !== undefined) status[key] = previous[key];
  }
});

function report(change) {
  Object.assign(status, change, { updatedAt: Date.now() });
  chrome.storage.session.set({ [STATUS_KEY]: { ...status } }).catch(() => {});
}

function send(ws, message) {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

// The session bridge sends on whatever connection is current; false when there is none.
const session = new SessionKeeper(
  (message) => {
    if (!socket || socket !== trusted || socket.readyState !== WebSocket.OPEN || status.state !== "registered") return false;
    socket.send(JSON.stringify(message));
    return true;
  },
  (change) => report({ session: { ...change, updatedAt: Date.now() } }),
);

function nextId(kind) {
  sequence += 1;
  return `${kind}-${sequence}`;
}

function scheduleReconnect() {
  clearTimeout(retryTimer);
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(failures, 10));
  const delay = ceiling / 2 + Math.random() * (ceiling / 2);
  failures += 1;
  retryTimer = setTimeout(() => connect(), delay);
  return delay;
}

function stopKeepalive() {
  clearInterval(keepaliveTimer);
  keepaliveTimer = null;
}

// Open the connection unless one is open or opening; safe to call from any wake-up event.
function connect() {
  connecting ??= open().finally(() => {
    connecting = null;
  });
  return connecting;
}

async function open() {
  await restored;
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  clearTimeout(retryTimer);
  settings = await loadSettings();
  const problems = checkSettings(settings).filter((p) => p.field === "relayUrl" || p.field === "token");
  if (problems.length) {
    report({ state: "unconfigured", message: problems.map((p) => `${p.field}: ${p.message}`).join("; ") });
    return;
  }
  const url = new URL(settings.relayUrl);
  url.searchParams.set("provider", "proof"); // no token in the URL: the two sides prove they know it instead
  let ws;
  try {
    ws = new WebSocket(url.href);
  } catch (error) {
    const delay = scheduleReconnect();
    report({ state: "disconnected", message: `${error.message}; retrying in ${Math.round(delay / 1000)} s` });
    return;
  }
  socket = ws;
  report({ state: "connecting", message: `connecting to ${settings.relayUrl}`, relayUrl: settings.relayUrl, providerId: "" });
  trusted = null;
  challenges.clear();
  ws.onopen = () => {
    challenge(ws);
    stopKeepalive();
    keepaliveTimer = setInterval(() => challenge(ws), KEEPALIVE_MS);
  };
  ws.onmessage = (event) => receive(ws, event.data);
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    trusted = null;
    stopKeepalive();
    session.stop();
    if (status.state === "refused" || status.state === "untrusted") return void scheduleReconnect();
    const delay = scheduleReconnect();
    const why = event.code === 1006
      ? "could not connect or the connection dropped (relay not running, wrong URL, or this extension's origin not allowed)"
      : `closed by the relay (${event.code}${event.reason ? `: ${event.reason}` : ""})`;
    report({
      state: "disconnected",
      message: `${why}; retrying in ${Math.round(delay / 1000)} s`,
      providerId: "",
      relayProviders: null,
    });
  };
}

// Ask the relay to prove it knows the provider token, for a fresh nonce of ours.
function challenge(ws) {
  const id = nextId("challenge");
  const nonce = newNonce();
  challenges.set(id, nonce);
  send(ws, { type: "register_provider", id, nonce });
}

// The relay answered a challenge: register (the first time) once its proof holds; close when it does not.
async function challenged(ws, message) {
  const nonce = challenges.get(message.id);
  challenges.delete(message.id);
  const host = new URL(settings.relayUrl).host;
  const { relay_nonce: relayNonce, relay_proof: given } = message.data ?? {};
  const holds = nonce && typeof relayNonce === "string" && sameProof(given, await relayProof(settings.token, host, nonce, relayNonce));
  if (socket !== ws) return;
  if (!holds) {
    trusted = null;
    report({
      state: "untrusted",
      message: `whatever answers at ${settings.relayUrl} did not prove it knows this provider token, so nothing was sent to it: paste the provider token veo serve printed, or stop the program that took the relay's address`,
      providerId: "",
    });
    failures = Math.max(failures, 10); // retry slowly until the options change
    ws.close(1000, "the relay did not prove it knows the token");
    return;
  }
  if (typeof message.data.providers === "number") report({ relayProviders: message.data.providers });
  if (trusted === ws) return; // a keepalive
  trusted = ws;
  const register = { type: "register_provider", id: "register", nonce, relay_nonce: relayNonce };
  register.proof = await providerProof(settings.token, host, nonce, relayNonce);
  if (settings.profileId) register.profile_id = settings.profileId;
  send(ws, register);
}

function receive(ws, raw) {
  let message;
  try {
    message = JSON.parse(raw);
  } catch {
    return;
  }
  switch (message.type) {
    case "captcha_request":
      answer(ws, message);
      break;
    case "result":
      if (challenges.has(message.id)) {
        challenged(ws, message).catch((error) => report({ lastError: `could not check the relay's proof: ${error.message}` }));
      } else if (message.id === "register" && trusted === ws) {
        failures = 0;
        const profile = settings.profileId || "every profile";
        report({
          state: "registered",
          message: `serving ${profile}`,
          profileId: settings.profileId,
          providerId: message.data.provider_id,
          relayProviders: message.data.providers ?? null,
        });
        session.start(settings).catch((error) => report({ session: { state: "refused", message: `could not read the cookie: ${error.message}` } }));
      } else if (String(message.id).startsWith("session")) {
        session.answered(message);
      } else if (String(message.id).startsWith("token") && !message.data.accepted) {
        report({ lastError: "the relay no longer wanted a token (the request was answered elsewhere or expired)" });
      }
      break;
    case "error":
      if (message.id === "register" || challenges.has(message.id)) {
        report({ state: "refused", message: `the relay refused the registration: ${message.message}`, providerId: "" });
        failures = Math.max(failures, 10); // a configuration problem: retry slowly until the options change
        ws.close(1000, "registration refused");
      } else if (String(message.id).startsWith("session")) {
        session.answered(message);
      } else {
        report({ lastError: `relay error ${message.code}: ${message.message}` });
      }
      break;
    default:
      break;
  }
}

async function answer(ws, request) {
  if (ws !== trusted) return; // the relay has not proven itself on this connection: nothing is minted for it
  report({ requests: status.requests + 1, lastRequestAt: Date.now() });
  const problem = actionProblem(request.action);
  if (problem || !budget.take()) {
    const why = problem || "more token requests than the cap allows in a minute: this one is not answered";
    console.warn(`veo-relay token bridge: ${why}`);
    report({ refused: status.refused + 1, lastError: why });
    return;
  }
  try {
    const token = await mintToken(settings, request.action);
    if (ws.readyState !== WebSocket.OPEN) {
      report({ failed: status.failed + 1, lastError: "the connection closed while minting; the relay asks again" });
      return;
    }
    send(ws, { type: "provide_captcha_token", id: nextId("token"), request_id: request.request_id, token });
    report({ answered: status.answered + 1, lastError: "" });
  } catch (error) {
    // There is no "decline" message: the relay re-asks another provider after its answer timeout.
    report({ failed: status.failed + 1, lastError: `could not mint a token: ${error.message}` });
  }
}

// New settings: drop the connection and start again at once.
chrome.storage.onChanged.addListener(async (changes, area) => {
  if (area !== "local" || !Object.keys(changes).some((key) => SETTING_KEYS.includes(key))) return;
  await connecting; // a connection being opened with the old settings is replaced once it exists
  failures = 0;
  const old = socket;
  socket = null;
  trusted = null;
  stopKeepalive();
  session.stop();
  if (old) old.close(1000, "reconfigured");
  connect();
});

// The options page's "mint a test token": checks the labs tab without involving the relay.
chrome.runtime.onMessage.addListener((message, sender, reply) => {
  if (message?.type !== "mint-test" || sender.id !== chrome.runtime.id) return false;
  loadSettings()
    .then((current) => mintToken(current, "VIDEO_GENERATION"))
    .then((token) => reply({ ok: true, length: token.length }), (error) => reply({ ok: false, error: error.message }));
  return true; // the reply comes later
});

// Cookie changes reach the session bridge only once the optional "cookies" permission is granted.
let watchingCookies = false;
function watchCookies() {
  if (watchingCookies || !chrome.cookies) return;
  chrome.cookies.onChanged.addListener((info) => session.changed(info));
  watchingCookies = true;
}
watchCookies();
chrome.permissions.onAdded.addListener(() => watchCookies());

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === ALARM) connect();
});
chrome.alarms.get(ALARM).then((alarm) => alarm || chrome.alarms.create(ALARM, { periodInMinutes: 0.5 }));
chrome.runtime.onStartup.addListener(() => connect());
chrome.runtime.onInstalled.addListener(() => connect());
chrome.action.onClicked.addListener(() => chrome.runtime.openOptionsPage());

connect();
