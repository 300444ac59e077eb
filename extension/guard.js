// What the relay may ask this extension to mint: only the reCAPTCHA actions Flow's video calls use, and at
// most MINTS_PER_MINUTE tokens a minute. Anything else is not answered (each token spends a little of the
// account's reCAPTCHA standing, so a relay gone wrong must not be able to spend it all).

export const ALLOWED_ACTIONS = Object.freeze(["VIDEO_GENERATION"]);
export const MINTS_PER_MINUTE = 20;
const MINUTE_MS = 60_000;

// Why a token for `action` may not be minted, or "" when it may.
export function actionProblem(action) {
  if (ALLOWED_ACTIONS.includes(action)) return "";
  return `refused a token for the action ${JSON.stringify(String(action ?? "")).slice(0, 80)}: only ${ALLOWED_ACTIONS.join(", ")} is allowed`;
}

// A sliding one-minute window of mints.
export class MintBudget {
  constructor(limit = MINTS_PER_MINUTE, now = Date.now) {
    this.limit = limit;
    this.now = now;
    this.times = [];
  }

  // Take one mint from the budget; false (and nothing taken) when the last minute already had `limit`.
  take() {
    const now = this.now();
    while (this.times.length && now - this.times[0] >= MINUTE_MS) this.times.shift();
    if (this.times.length >= this.limit) return false;
    this.times.push(now);
    return true;
  }
}
