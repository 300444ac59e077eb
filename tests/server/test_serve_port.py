"""`veo serve` on a port that is taken says which port and how to choose another."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.server.relay_process import veo


def test_a_port_in_use_is_named_with_how_to_choose_another(tmp_path: Path) -> None:
    """Exit 1, the port and address, --port and VEO_PORT; no errno, and the store is left for the next start."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = veo("serve", "--port", str(port), data=tmp_path)
    assert result.code == 1
    message = result.err.strip().splitlines()[-1]
    assert message.startswith(f"veo: port {port} on 127.0.0.1 is already in use")
    assert "--port N or VEO_PORT=N" in message
    assert "Errno" not in result.err
    assert not (tmp_path / "server.json").exists()
