"""``python -m server.simulator``: the same as ``veo simulator``."""

from __future__ import annotations

import sys

from server.simulator.cli import main

sys.exit(main())
