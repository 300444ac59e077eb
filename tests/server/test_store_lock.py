"""One relay per store: a second `veo serve` or `Relay.start` on a SQLite store is refused at once, naming the
running one, and leaves its files alone; the OS frees the store when its owner dies (CONTRACT §5)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.scripting import Relay
from server.store import locate
from server.store_lock import LOCK_SUFFIX, StoreLocked, claim
from tests.reliability.processes import KillableRelay, free_port
from tests.server.relay_process import FAST_JOBS, running_relay, veo

FAST = (0.3, 0.8)
OWNED_FILES = ("server.json", "simulator.json", "token")


def _contents(data: Path) -> dict[str, bytes]:
    return {name: (data / name).read_bytes() for name in OWNED_FILES}


def test_a_second_serve_is_refused_with_exit_2_naming_the_first_which_keeps_serving(tmp_path: Path) -> None:
    with running_relay(tmp_path) as relay:
        before = _contents(tmp_path)
        second = veo("serve", "--port", "0", "--token", "another", "--simulator-times", FAST_JOBS, data=tmp_path)
        assert second.code == 2, second.err
        assert f"PID {relay.process.pid}, {relay.url}" in second.err
        assert "in use by another relay" in second.err
        assert _contents(tmp_path) == before  # server.json, simulator.json and the token are the first one's
        assert veo("queue", data=tmp_path).code == 0  # the first still serves, found through its server.json
        # read paths that are safe beside a running server take no lock
        assert veo("replay", data=tmp_path).code == 0
        assert veo("rebuild", data=tmp_path).code == 0


def test_relay_start_is_refused_while_a_serve_owns_the_store(tmp_path: Path) -> None:
    with running_relay(tmp_path) as relay:
        before = _contents(tmp_path)
        with pytest.raises(StoreLocked, match=f"PID {relay.process.pid}, {relay.url}"):
            Relay.start(tmp_path, simulator_times=FAST)
        assert _contents(tmp_path) == before


def test_a_second_relay_start_is_refused_until_the_first_stops(tmp_path: Path) -> None:
    with Relay.start(tmp_path, simulator_times=FAST):
        with pytest.raises(StoreLocked, match=f"PID {os.getpid()}, no address yet") as refused:
            Relay.start(tmp_path, simulator_times=FAST)
        assert refused.value.store == tmp_path.resolve() / "events.sqlite"
    Relay.start(tmp_path, simulator_times=FAST).stop()  # stopping gave the store up


def test_kill_9_of_the_owner_frees_the_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    relay = KillableRelay(data, free_port(), ["--simulator-times", FAST_JOBS])
    try:
        relay.start()
        assert relay.process is not None
        refused = veo("serve", "--port", "0", data=data)
        assert refused.code == 2, refused.err
        assert f"PID {relay.process.pid}, {relay.url}" in refused.err
        relay.kill()  # SIGKILL: no clean-up runs, the lock file stays behind, the OS drops the lock
        relay.start()  # waits until the new process announces itself in server.json
        assert relay.stop() == 0
    finally:
        relay.close()


def test_a_postgresql_store_takes_no_file_lock(tmp_path: Path) -> None:
    # several cluster nodes share one PostgreSQL store (and may share a data directory): the lease decides
    location = locate(tmp_path, "postgresql://veo@127.0.0.1:5432/veo")
    assert claim(location) is None
    assert claim(location) is None
    assert list(tmp_path.iterdir()) == []


def test_the_lock_file_keeps_its_owner_record_when_a_claim_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "events.sqlite"
    lock = claim(locate(tmp_path, None))
    assert lock is not None
    try:
        lock.announce("http://127.0.0.1:9")
        recorded = (tmp_path / ("events.sqlite" + LOCK_SUFFIX)).read_bytes()
        with pytest.raises(StoreLocked, match=r"PID \d+, http://127\.0\.0\.1:9\)"):
            claim(locate(tmp_path, str(store)))
        assert (tmp_path / ("events.sqlite" + LOCK_SUFFIX)).read_bytes() == recorded
    finally:
        lock.release()
    relocked = claim(locate(tmp_path, None))
    assert relocked is not None
    relocked.release()
