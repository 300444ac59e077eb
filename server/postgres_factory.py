"""eventsourcing's PostgreSQL persistence, whose pooled connections also get the store URL's libpq options.

eventsourcing builds its connections from `POSTGRES_*` settings that have no place for `sslmode` and the rest of
libpq's options; this factory (named by `PERSISTENCE_MODULE`, as eventsourcing allows) adds them, given as one
libpq connection string in `VEO_POSTGRES_OPTIONS`, to its pool's connection arguments before any is opened.
"""

from __future__ import annotations

import logging

from eventsourcing import postgres
from eventsourcing.utils import Environment, EnvType
from psycopg.conninfo import conninfo_to_dict

__all__ = ["OPTIONS_SETTING", "PostgresFactory"]

logger = logging.getLogger(__name__)

OPTIONS_SETTING = "VEO_POSTGRES_OPTIONS"


class PostgresFactory(postgres.PostgresFactory):
    """eventsourcing's PostgresFactory, its connections opened with the libpq options of `VEO_POSTGRES_OPTIONS`."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        options = self.env.get(OPTIONS_SETTING)
        if options:
            arguments = self.datastore.pool.kwargs
            assert isinstance(arguments, dict), "eventsourcing gives its pool the connection arguments as a dict"
            arguments.update(conninfo_to_dict(options))
