// register_provider's challenge-response (docs/PROTOCOL.md): the relay proves it knows the provider token
// before this extension sends it anything secret, and the extension proves it knows the token without
// sending it. A proof is HMAC-SHA256, keyed by the token, over "veo-relay provider v1|WHO|HOST|NONCE|RELAY_NONCE".

const LABEL = "veo-relay provider v1";
const NONCE_BYTES = 24;
const encoder = new TextEncoder();

// A fresh random nonce (192 bits, URL-safe base64 without padding).
export function newNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function hmacHex(key, text) {
  const secret = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = await crypto.subtle.sign("HMAC", secret, encoder.encode(text));
  return Array.from(new Uint8Array(signature), (b) => b.toString(16).padStart(2, "0")).join("");
}

const proof = (who) => (key, host, nonce, relayNonce) => hmacHex(key, [LABEL, who, host, nonce, relayNonce].join("|"));

// What the relay must answer to our nonce, and what we answer to its.
export const relayProof = proof("relay");
export const providerProof = proof("provider");

// Whether a proof the relay sent is the expected one (every character compared, whatever differs first).
export function sameProof(given, expected) {
  if (typeof given !== "string" || given.length !== expected.length) return false;
  let difference = 0;
  for (let i = 0; i < expected.length; i += 1) difference |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return difference === 0;
}
