"""The libpq options of a `postgresql://...?...` store URL reach every connection, an unknown one is refused by
name, and a PostgreSQL store without the driver installed says how to install it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.store import StoreError, StoreUnreachable, locate, redacted
from veo_cli.main import cli

URL = "postgresql://veo@db.example/veo"


def test_an_unknown_option_is_refused_by_name_with_the_accepted_ones(tmp_path: Path) -> None:
    """A misspelt option is an error naming it and listing libpq's options, not an option silently dropped; `veo
    serve` exits 2 with it."""
    with pytest.raises(StoreError) as caught:
        locate(tmp_path, f"{URL}?sslmod=verify-full")
    message = str(caught.value)
    assert "'sslmod'" in message
    assert "sslmode" in message.split("accepted ones are:")[1]
    assert "sslrootcert" in message
    assert "replication" not in message  # libpq's debug-only options are not offered
    served = CliRunner().invoke(cli, ["serve", "--data", str(tmp_path), "--store", f"{URL}?sslmod=verify-full"])
    assert served.exit_code == 2  # a usage error, as a wrong flag is
    assert "'sslmod'" in served.output


def test_the_options_are_kept_for_every_connection_and_secret_ones_stay_out_of_messages(tmp_path: Path) -> None:
    """sslmode and friends go into the relay's own connection keywords and eventsourcing's settings."""
    url = f"{URL}?sslmode=verify-full&sslrootcert=/etc/ca.pem&sslpassword=hush&schema=relay&options=-c%20jit%3Doff"
    location = locate(tmp_path, url)
    assert location.postgres is not None
    info = location.postgres.conninfo()
    assert info["sslmode"] == "verify-full"
    assert info["sslrootcert"] == "/etc/ca.pem"
    assert info["options"] == "-c jit=off -c search_path=relay"
    assert info["application_name"] == "veo-relay"
    assert "sslmode=verify-full" in location.env["VEO_POSTGRES_OPTIONS"]
    assert "hush" not in repr(location) + location.description + redacted(url)


def test_without_the_driver_a_postgresql_store_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With psycopg missing, `--store postgresql://` is a usage error naming the extra; SQLite stores still open."""
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now fails as if it were not installed
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    result = CliRunner().invoke(cli, ["replay", "--data", str(tmp_path), "--store", URL])
    assert result.exit_code == 2
    assert "pip install 'veo-relay[postgres]'" in result.output
    location = locate(tmp_path / "data", None)
    location.open_app().close()
    location.open_read_model().close()


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_url_options_take_effect_on_the_relays_and_eventsourcings_connections(tmp_path: Path, store: str) -> None:
    """application_name and a server setting given in the URL are those of the event store's pooled connections
    and of the relay's own (read model, listener, lease), as the server sees them."""
    import psycopg  # noqa: PLC0415 - imports libpq
    from eventsourcing.postgres import PostgresFactory  # noqa: PLC0415

    settings = "SELECT current_setting('application_name') AS name, current_setting('work_mem') AS work_mem"
    location = locate(tmp_path, f"{store}?application_name=veo-options-test&options=-c%20work_mem%3D7MB")
    assert location.postgres is not None
    app = location.open_app()
    try:
        assert isinstance(app.factory, PostgresFactory)
        with app.factory.datastore.pool.connection() as conn:
            pooled = conn.execute(settings).fetchone()
        with psycopg.connect(**location.postgres.conninfo()) as conn:
            own = conn.execute(settings).fetchone()
    finally:
        app.close()
    assert pooled is not None
    assert tuple(pooled.values()) == ("veo-options-test", "7MB")
    assert own == ("veo-options-test", "7MB")


@pytest.mark.parametrize("backend", ["postgres"])
def test_sslmode_require_refuses_a_server_without_ssl(tmp_path: Path, store: str) -> None:
    """The test cluster speaks no SSL: with sslmode=require the store is refused, saying so, rather than used
    in clear text."""
    location = locate(tmp_path, f"{store}?sslmode=require")
    with pytest.raises(StoreUnreachable, match="SSL"):
        location.open_app()
