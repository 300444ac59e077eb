"""Which token a `/ws` connection holds, and what that lets it ask.

The client token may ask everything except `provide_session`, unless the user allows it (`--client-sessions`).
The provider token, for the browser extension, may only register as a token provider and answer with tokens
and sessions. A connection opened with `?provider=proof` and no token holds nothing yet: it may only take
part in `register_provider`'s challenge-response (`veo_protocol.provider_proof`), and once it has proven that
it knows the provider token it is a provider connection. The extension connects that way, so its token never
travels to whatever listens at its relay URL.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qs, urlsplit

from websockets.http11 import Request as HttpRequest

from veo_protocol import ErrorCode, ProtocolError, ProvideCaptchaToken, ProvideSession, RegisterProvider, Request
from veo_protocol.provider_proof import new_nonce, proof_holds, provider_proof, relay_proof

__all__ = ["Access", "ConnectionAccess", "Keys", "access_of"]

logger = logging.getLogger(__name__)

PROVIDER_REQUESTS = (RegisterProvider, ProvideCaptchaToken, ProvideSession)


class Access(Enum):
    """What a connection proved it holds."""

    CLIENT = "client"
    PROVIDER = "provider"
    PROVING = "proving"
    """Opened without a token (`?provider=proof`): only `register_provider`'s challenge-response."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The relay's tokens, and whether the client token may provide sessions."""

    client: str
    provider: str
    client_sessions: bool = False

    def __repr__(self) -> str:
        return f"Keys(client_sessions={self.client_sessions})"


def _supplied_token(request: HttpRequest, query: dict[str, list[str]]) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    values = query.get("token")
    return values[0] if values else None


def access_of(keys: Keys, request: HttpRequest) -> Access | None:
    """What the upgrade `request` authenticates as; None: refuse it (401)."""
    query = parse_qs(urlsplit(request.path).query)
    supplied = _supplied_token(request, query)
    if supplied is not None:
        # both comparisons always run: the time taken says nothing about which token was close
        client = hmac.compare_digest(supplied.encode(), keys.client.encode())
        provider = hmac.compare_digest(supplied.encode(), keys.provider.encode())
        return Access.CLIENT if client else Access.PROVIDER if provider else None
    return Access.PROVING if query.get("provider") == ["proof"] else None


class ConnectionAccess:
    """One connection's standing: its access, the `Host` it was opened to, the relay nonce it was last sent."""

    def __init__(self, access: Access = Access.PROVING, host: str = "") -> None:
        self.access = access
        self.host = host
        self._relay_nonce: str | None = None

    @classmethod
    def opened(cls, keys: Keys, request: HttpRequest) -> ConnectionAccess:
        """The standing of a connection the upgrade `request` opened (one HttpFront let through)."""
        return cls(access_of(keys, request) or Access.PROVING, request.headers.get("Host", ""))

    def admit(self, request: Request, keys: Keys) -> None:
        """Raise the ProtocolError a request this connection may not ask for is answered with."""
        if self.access is Access.CLIENT:
            if isinstance(request, ProvideSession) and not keys.client_sessions:
                message = (
                    "the client token may not provide sessions on this relay: use the provider token "
                    "(veo serve prints it), or start the relay with --client-sessions"
                )
                raise ProtocolError(ErrorCode.CONFLICT, message, None, request.id)
            return
        if self.access is Access.PROVING and not isinstance(request, RegisterProvider):
            message = (
                "this connection has not proven it holds the provider token: only register_provider "
                "(with nonce, relay_nonce and proof) is accepted"
            )
            raise ProtocolError(ErrorCode.BAD_MESSAGE, message, "type", request.id)
        if not isinstance(request, PROVIDER_REQUESTS):
            message = (
                "this connection holds the provider token, which only provides tokens: it may only "
                "register_provider, provide_captcha_token and provide_session"
            )
            raise ProtocolError(ErrorCode.BAD_MESSAGE, message, "type", request.id)

    def challenge(self, nonce: str, keys: Keys) -> dict[str, str]:
        """The relay's nonce and its proof for the provider's `nonce` (a new relay nonce each time)."""
        self._relay_nonce = new_nonce()
        return {
            "relay_nonce": self._relay_nonce,
            "relay_proof": relay_proof(keys.provider, self.host, nonce, self._relay_nonce),
        }

    def prove(self, request: RegisterProvider, keys: Keys) -> None:
        """Check the provider's proof (over the relay nonce this connection was sent); a connection that had
        proven nothing becomes a provider connection. ProtocolError naming `proof` when it does not hold."""
        issued, self._relay_nonce = self._relay_nonce, None  # one proof per challenge
        nonce, relay_nonce, proof = request.nonce, request.relay_nonce, request.proof
        if nonce is None or relay_nonce is None or proof is None or issued is None or relay_nonce != issued:
            message = "send register_provider with a nonce first, then the proof over the relay_nonce it answers"
            raise ProtocolError(ErrorCode.BAD_MESSAGE, message, "relay_nonce", request.id)
        if not proof_holds(proof, provider_proof(keys.provider, self.host, nonce, relay_nonce)):
            logger.warning("a provider's proof did not hold (it does not know the provider token)")
            message = "the proof does not hold: this is not the provider token veo serve printed"
            raise ProtocolError(ErrorCode.BAD_MESSAGE, message, "proof", request.id)
        if self.access is Access.PROVING:
            self.access = Access.PROVIDER
