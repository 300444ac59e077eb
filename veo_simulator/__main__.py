"""``python -m veo_simulator``: the same as ``veo simulator``."""

from __future__ import annotations

import sys

from veo_simulator.cli import main

sys.exit(main())
