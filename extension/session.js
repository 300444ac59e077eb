// The optional session bridge: keeps the relay's copy of this profile's labs session cookie fresh.
//
// Off unless the user turns it on (which grants the optional "cookies" permission). Once the relay has
// accepted the registration, the worker sends the cookie with `provide_session`, and again (debounced)
// whenever Chrome reports a change of it. It is sent only over wss:// or to a relay on this machine, and
// kept nowhere: neither in storage nor in the status (only a digest of the last value sent, in memory).
// A relay that answers with an error (an older one does not know the message) gets no more cookies on
// that connection.

import { sessionHost, sessionProblem } from "./settings.js";

export const SESSION_COOKIE = "__Secure-next-auth.session-token";
export const MAX_COOKIE_CHARS = 8192; // what the relay accepts
const DEBOUNCE_MS = 1_500;
const CHUNK = /^\.(\d{1,3})$/;

// Is this the session cookie, or one of its chunks (NextAuth splits a long one into NAME.0, NAME.1, ...)?
export function isSessionCookie(name) {
  return name === SESSION_COOKIE || (name.startsWith(SESSION_COOKIE) && CHUNK.test(name.slice(SESSION_COOKIE.length)));
}

// The session's value from a host's cookies: the whole cookie, else its chunks .0, .1, ... joined in order.
export function joinSession(cookies) {
  const whole = cookies.find((c) => c.name === SESSION_COOKIE);
  if (whole) return whole.value;
  const chunks = new Map();
  for (const cookie of cookies) {
    const match = CHUNK.exec(cookie.name.slice(SESSION_COOKIE.length));
    if (cookie.name.startsWith(SESSION_COOKIE) && match) chunks.set(Number(match[1]), cookie.value);
  }
  const parts = [];
  for (let index = 0; chunks.has(index); index += 1) parts.push(chunks.get(index));
  return parts.join("");
}

// Cookies set for exactly this host (host-only or domain cookies), not for its subdomains.
function forHost(cookie, host) {
  return cookie.domain === host || cookie.domain === `.${host}`;
}

async function digest(text) {
  const bytes = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class SessionKeeper {
  // send(message): to the current connection; report(session): the `session` part of the worker's status.
  constructor(send, report) {
    this.send = send;
    this.report = report;
    this.settings = null;
    this.active = false; // registered on a connection that has not refused the message
    this.lastSent = "";
    this.timer = null;
    this.sequence = 0;
    this.accepted = 0; // cookies the relay accepted since the worker started
  }

  // The relay accepted the registration: send the cookie now (a restarted relay has forgotten it).
  async start(settings) {
    this.settings = settings;
    this.active = false;
    this.lastSent = "";
    if (!settings.keepSessionFresh) return this.report({ state: "off", message: "off" });
    const problem = sessionProblem(settings);
    if (problem) return this.report({ state: "blocked", message: problem });
    this.active = true;
    await this.push();
  }

  // The connection closed (or is being replaced).
  stop() {
    if (this.active) this.report({ state: "waiting", message: "sent again once the relay accepts the registration" });
    this.active = false;
    clearTimeout(this.timer);
  }

  // Chrome reported a cookie change; the session's is sent once the changes settle.
  changed(info) {
    const host = this.settings && sessionHost(this.settings.labsPattern);
    if (!this.active || !host || !isSessionCookie(info.cookie.name) || !forHost(info.cookie, host)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.push(), DEBOUNCE_MS);
  }

  // Read the cookie and send it when it differs from what this connection last sent.
  async push() {
    if (!this.active) return;
    if (!chrome.cookies) {
      return this.report({ state: "no-permission", message: "not sent: Chrome has not granted the cookies permission (save the options again)" });
    }
    const host = sessionHost(this.settings.labsPattern);
    const cookies = (await chrome.cookies.getAll({ url: `https://${host}/` })).filter((c) => forHost(c, host));
    const value = joinSession(cookies);
    if (!value) return this.report({ state: "no-cookie", message: `no session cookie for ${host} in this browser: log in to labs` });
    if (value.length > MAX_COOKIE_CHARS) {
      return this.report({ state: "blocked", message: `not sent: the session cookie is ${value.length} characters, more than the relay takes` });
    }
    const seen = await digest(value);
    if (seen === this.lastSent || !this.active) return;
    this.sequence += 1;
    if (this.send({ type: "provide_session", id: `session-${this.sequence}`, profile_id: this.settings.profileId, session_cookie: value })) {
      this.lastSent = seen;
      this.report({ state: "sending", message: "sent, waiting for the relay's answer" });
    }
  }

  // The relay's answer to a provide_session.
  answered(message) {
    if (message.type === "result") {
      this.accepted += 1;
      this.report({ state: "sent", message: "the relay has this browser's current session", sentAt: Date.now(), accepted: this.accepted });
      return;
    }
    this.active = false; // no more attempts on this connection
    this.lastSent = "";
    if (message.code === "bad_message" && message.field === "type") {
      this.report({ state: "unsupported", message: "unsupported by this relay (it does not know provide_session); nothing more is sent" });
    } else {
      this.report({ state: "refused", message: `refused by the relay: ${message.message}` });
    }
  }
}
