"""The libpq connection options a `postgresql://...?...` store URL may carry, checked against the driver's own list.

Every option the installed libpq accepts (`sslmode`, `sslrootcert`, `application_name`, `options`, ...) reaches
every connection the relay opens, its own and eventsourcing's pool (`server.postgres_factory`); an unknown one is
refused by name, with the accepted ones, instead of being dropped. psycopg is an optional dependency
(`veo-relay[postgres]`): a PostgreSQL store without it is refused with the command that installs it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Final

__all__ = [
    "OWN_OPTIONS",
    "SECRET_OPTIONS",
    "URL_OPTIONS",
    "MissingDriver",
    "UnknownOption",
    "accepted_options",
    "connection_options",
    "load_driver",
]

logger = logging.getLogger(__name__)

INSTALL_HINT: Final = "pip install 'veo-relay[postgres]'"
URL_OPTIONS: Final = frozenset({"host", "port", "user", "password", "dbname", "connect_timeout"})
"""Options the store reads itself (the URL's own parts win over them)."""
OWN_OPTIONS: Final = frozenset({"schema"})
"""Options of the relay's, not libpq's: `schema` holds the event store's and read model's tables."""
SECRET_OPTIONS: Final = frozenset({"password", "sslpassword", "oauth_client_secret"})
"""libpq's secret options (shown `*` by PQconndefaults): never in a message."""


class MissingDriver(ImportError):
    """psycopg (the PostgreSQL driver) is not installed."""


class UnknownOption(ValueError):
    """A store URL names an option that neither libpq nor the relay knows."""


def load_driver() -> None:
    """Import psycopg, or MissingDriver saying how to install it."""
    try:
        import psycopg  # noqa: F401, PLC0415 - an optional dependency, needed only for PostgreSQL stores
    except ImportError as exc:
        raise MissingDriver(
            f"PostgreSQL stores need the PostgreSQL driver, which is not installed ({exc}): {INSTALL_HINT}"
        ) from None


@functools.cache
def accepted_options() -> frozenset[str]:
    """The options a store URL may carry: libpq's own (without its debug-only ones) and the relay's."""
    load_driver()
    import psycopg  # noqa: PLC0415

    keywords = {
        option.keyword.decode()
        for option in psycopg.pq.Conninfo.get_defaults()
        if option.dispchar != b"D"  # debug options (replication, scram keys): not for a store
    }
    return frozenset(keywords | OWN_OPTIONS)


def connection_options(query: Mapping[str, str]) -> dict[str, str]:
    """The libpq options among a URL's query parameters (not the URL's own parts nor the relay's), each checked."""
    accepted = accepted_options()
    unknown = sorted(name for name in query if name not in accepted)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        listed = ", ".join(sorted(accepted))
        raise UnknownOption(f"unknown PostgreSQL connection option {names} in --store; the accepted ones are: {listed}")
    return {name: value for name, value in query.items() if name not in URL_OPTIONS | OWN_OPTIONS}
