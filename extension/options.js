// The options page: edit the settings, ask Chrome for access to a custom labs host, show the worker's status.

import { checkSettings, DEFAULTS, loadSettings, originOf, sessionProblem, STATUS_KEY } from "./settings.js";

const form = document.getElementById("settings");
const TEXT_FIELDS = ["relayUrl", "token", "profileId", "labsPattern", "labsPage", "siteKey"];
const BUILT_IN_ORIGIN = originOf(DEFAULTS.labsPattern);
let current = null;

const $ = (id) => document.getElementById(id);

function readForm() {
  const values = {};
  for (const name of TEXT_FIELDS) values[name] = form.elements[name].value.trim();
  values.keepSessionFresh = form.elements.keepSessionFresh.checked;
  return values;
}

function fillForm(settings) {
  for (const name of TEXT_FIELDS) form.elements[name].value = settings[name];
  form.elements.keepSessionFresh.checked = settings.keepSessionFresh;
}

function showProblems(problems) {
  for (const slot of form.querySelectorAll(".error")) slot.textContent = "";
  for (const { field, message } of problems) {
    const slot = form.querySelector(`.error[data-for="${field}"]`);
    if (slot) slot.textContent = message;
    form.elements[field]?.setAttribute("aria-invalid", "true");
  }
  for (const name of TEXT_FIELDS) {
    if (!problems.some((p) => p.field === name)) form.elements[name].removeAttribute("aria-invalid");
  }
}

const STATES = {
  starting: "Starting…",
  unconfigured: "Not configured",
  connecting: "Connecting…",
  registered: "Connected: providing tokens",
  disconnected: "Disconnected",
  refused: "Refused by the relay",
  untrusted: "Not trusted: nothing sent",
};

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "—";
}

const SESSION_STATES = {
  off: "Off",
  blocked: "On, but not sent",
  "no-permission": "On, but not sent",
  "no-cookie": "On, no cookie yet",
  sending: "Sending…",
  sent: "Sent",
  unsupported: "Unsupported by this relay",
  refused: "Refused",
};

// The worker's word on the session bridge, or (before it has spoken) what the saved settings imply.
function showSession(session) {
  const slot = $("session-state");
  let shown = session;
  if (!current?.keepSessionFresh) shown = { state: "off", message: "" };
  else if (sessionProblem(current)) shown = { state: "blocked", message: sessionProblem(current) };
  else if (!shown || shown.state === "off") shown = { state: "waiting", message: "sent once the relay has accepted the registration" };
  slot.dataset.state = shown.state;
  slot.dataset.accepted = String(session?.accepted ?? 0);
  const label = SESSION_STATES[shown.state] ?? "On";
  const when = shown.state === "sent" && shown.sentAt ? ` at ${new Date(shown.sentAt).toLocaleTimeString()}` : "";
  slot.textContent = `${label}${when}${shown.message && shown.state !== "sent" ? ` — ${shown.message}` : ""}`;
}

function showStatus(status) {
  showSession(status?.session);
  if (!status) return;
  const state = $("state");
  state.dataset.state = status.state;
  state.textContent = `${STATES[status.state] ?? status.state}${status.message ? ` — ${status.message}` : ""}`;
  $("served-profile").textContent = status.state === "registered" ? status.profileId || "every profile" : "—";
  $("provider-id").textContent = status.providerId || "—";
  $("relay-providers").textContent = status.relayProviders ?? "—";
  $("answered").textContent = String(status.answered ?? 0);
  $("failed").textContent = String(status.failed ?? 0);
  $("refused").textContent = String(status.refused ?? 0);
  $("last-request").textContent = when(status.lastRequestAt);
  $("last-error").textContent = status.lastError || "—";
}

// Ask for access to a custom labs host (and, for the session bridge, to cookies) in one prompt, while the
// click still counts as a user gesture.
async function grantAccess(pattern, cookies) {
  const origin = originOf(pattern);
  const wanted = {};
  if (origin && origin !== BUILT_IN_ORIGIN) wanted.origins = [origin];
  if (cookies && !(await chrome.permissions.contains({ permissions: ["cookies"] }))) wanted.permissions = ["cookies"];
  if (!wanted.origins && !wanted.permissions) return true;
  return chrome.permissions.request(wanted);
}

async function dropAccess(pattern, keep) {
  const origin = originOf(pattern);
  if (!origin || origin === BUILT_IN_ORIGIN || origin === originOf(keep)) return;
  await chrome.permissions.remove({ origins: [origin] }).catch(() => false);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = readForm();
  const problems = checkSettings({ ...DEFAULTS, ...values });
  showProblems(problems);
  if (problems.length) {
    $("saved").textContent = "Not saved: fix the fields marked above.";
    return;
  }
  let granted = false;
  try {
    granted = await grantAccess(values.labsPattern, values.keepSessionFresh);
  } catch (error) {
    showProblems([{ field: "labsPattern", message: `Chrome refused: ${error.message}` }]);
  }
  if (!granted) {
    $("saved").textContent = values.keepSessionFresh
      ? "Not saved: keeping the session fresh needs the cookies permission, and minting needs access to the labs host."
      : "Not saved: this extension needs access to the labs host to mint tokens there.";
    return;
  }
  if (current && current.labsPattern !== values.labsPattern) await dropAccess(current.labsPattern, values.labsPattern);
  if (!values.keepSessionFresh) await chrome.permissions.remove({ permissions: ["cookies"] }).catch(() => false);
  await chrome.storage.local.set(values);
  current = values;
  $("saved").textContent = `Saved at ${new Date().toLocaleTimeString()}.`;
  showSession(null);
});

$("test-mint").addEventListener("click", async () => {
  $("test-result").textContent = "Minting…";
  const outcome = await chrome.runtime.sendMessage({ type: "mint-test" });
  $("test-result").textContent = outcome?.ok
    ? `A token of ${outcome.length} characters came from the labs tab (not sent anywhere).`
    : `No token: ${outcome?.error ?? "the worker did not answer"}`;
});

chrome.storage.session.onChanged.addListener((changes) => {
  if (changes[STATUS_KEY]) showStatus(changes[STATUS_KEY].newValue);
});

async function start() {
  current = await loadSettings();
  fillForm(current);
  $("allow-origin").textContent = `veo serve --allow-origin chrome-extension://${chrome.runtime.id}`;
  const stored = await chrome.storage.session.get(STATUS_KEY);
  showStatus(stored[STATUS_KEY]);
  document.body.dataset.ready = "true";
}

start();
