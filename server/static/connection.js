// The websocket link to the relay (docs: CONTRACT §4): requests by id, deltas, reconnection with backoff.

const REQUEST_TIMEOUT_MS = 30000;

/** A request the server answered with an `error` frame, or one that could not be sent or answered. */
export class RequestError extends Error {
  constructor(code, message, field = null) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

/** Backoff delays in ms: doubling from `first` up to `max`, each with up to 50% random jitter taken off. */
export function backoffDelay(attempt, first = 250, max = 5000) {
  const base = Math.min(max, first * 2 ** attempt);
  return Math.round(base * (0.5 + Math.random() * 0.5));
}

/**
 * One logical connection that reopens itself. `onOpen(conn)` runs after every (re)open and must
 * re-subscribe; `onDeltas(list)` gets each frame's deltas in position order; `onState(state, detail)`
 * reports "connecting", "connected", "reconnecting" (detail: ms until the next try), "refused" or "stopped".
 */
export class Connection {
  constructor({ url, probeUrl, onOpen, onDeltas, onState }) {
    this.url = url;
    this.probeUrl = probeUrl;
    this.onOpen = onOpen;
    this.onDeltas = onDeltas;
    this.onState = onState;
    this.socket = null;
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "bye");
    this.onState("stopped");
  }

  open() {
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting", 0);
    const socket = new WebSocket(this.url);
    this.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.onState("connected");
      Promise.resolve(this.onOpen(this))
        .then(() => { this.attempt = 0; })
        .catch((error) => {
          console.warn("resynchronising failed; reconnecting", error);
          socket.close(4000, "resync failed");
        });
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failPending("the connection closed");
      if (this.stopped) return;
      if (!opened) this.probe().then((refused) => (refused ? this.refuse() : this.retry(event.code)));
      else this.retry(event.code);
    });
  }

  /** Whether the server answers the token with 401 (the browser hides an upgrade's HTTP status). */
  async probe() {
    try {
      const response = await fetch(this.probeUrl, { cache: "no-store" });
      return response.status === 401;
    } catch {
      return false; // the server is down: keep trying
    }
  }

  refuse() {
    this.stopped = true;
    this.onState("refused");
  }

  retry(code) {
    const delay = code === 1008 ? 10000 : backoffDelay(this.attempt);
    this.attempt += 1;
    this.onState("reconnecting", delay);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }

  /** Send `{type, id, ...fields}`; resolves with `{data, position}` or rejects with a RequestError. */
  request(type, fields = {}) {
    if (!this.connected) {
      return Promise.reject(new RequestError("offline", "not connected to the relay"));
    }
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError("timeout", `no answer to ${type} within ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ type, id, ...fields }));
    });
  }

  failPending(message) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new RequestError("offline", message));
    }
    this.pending.clear();
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      console.warn("ignoring a frame that is not JSON");
      return;
    }
    switch (message.type) {
      case "delta":
        this.onDeltas([message]);
        break;
      case "deltas":
        this.onDeltas(message.deltas);
        break;
      case "result":
      case "error":
        this.settle(message);
        break;
      default:
        break; // captcha_request and future types are not for the dashboard
    }
  }

  settle(message) {
    const waiter = message.id == null ? undefined : this.pending.get(message.id);
    if (waiter === undefined) {
      if (message.type === "error") console.warn("relay error:", message.code, message.message);
      return;
    }
    this.pending.delete(message.id);
    clearTimeout(waiter.timer);
    if (message.type === "result") waiter.resolve({ data: message.data, position: message.position });
    else waiter.reject(new RequestError(message.code, message.message, message.field ?? null));
  }
}
