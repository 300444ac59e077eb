"""The challenge-response of `register_provider`: relay and provider each prove they know the provider token.

Each side sends a fresh nonce; each proof is an HMAC-SHA256, keyed by the provider token, over a fixed label
naming who proves, the `Host` the connection was opened to, and both nonces. The provider (the browser
extension) checks the relay's proof before it sends any secret, so a process that took the relay's port while
it was down learns neither the token nor a session cookie nor a reCAPTCHA token; the relay checks the
provider's proof before it registers it. The labels differ, so neither proof can be replayed as the other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["LABEL", "new_nonce", "proof_holds", "provider_proof", "relay_proof"]

LABEL = "veo-relay provider v1"
NONCE_BYTES = 24


def new_nonce() -> str:
    """A fresh nonce (192 random bits, URL-safe base64)."""
    return secrets.token_urlsafe(NONCE_BYTES)


def _proof(key: str, who: str, host: str, nonce: str, relay_nonce: str) -> str:
    text = "|".join((LABEL, who, host, nonce, relay_nonce))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def relay_proof(key: str, host: str, nonce: str, relay_nonce: str) -> str:
    """The relay's proof, for the provider's `nonce` and the relay's own `relay_nonce`."""
    return _proof(key, "relay", host, nonce, relay_nonce)


def provider_proof(key: str, host: str, nonce: str, relay_nonce: str) -> str:
    """The provider's proof over the same nonces."""
    return _proof(key, "provider", host, nonce, relay_nonce)


def proof_holds(given: str, expected: str) -> bool:
    """Constant-time comparison of two proofs."""
    return hmac.compare_digest(given.encode(), expected.encode())
