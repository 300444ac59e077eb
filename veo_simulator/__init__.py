"""A loopback imitation of Google Flow's private video API, for tests, benchmarks and ``veo serve``.

One server answers both hosts' paths (shapes as in flow-api.md):

- Flow: ``POST /v1/video:batchAsyncGenerateVideoText``, ``POST /v1/video:batchAsyncGenerateVideoUpsampleVideo``
  (2026 answer: operations[], workflows[], media[], remainingCredits; one operation per entry; the
  operation name equals the media name), ``POST /v1/video:batchCheckAsyncVideoGenerationStatus`` (legacy
  ``operations`` and 2026 ``media`` shapes; ``contract`` may refuse one with 400), ``GET /v1/credits``
  (the requesting account's balance), ``POST /v1/flowMedia:cancelGeneration``. All need
  ``Authorization: Bearer``; bodies refuse unknown fields.
- labs: ``GET /fx/api/auth/session`` (cookie ``__Secure-next-auth.session-token``; ``{}`` without it) and
  ``GET /fx/api/trpc/media.getMediaUrlRedirect?name=`` (cookie; 302 to ``/_sim/media/<id>.mp4`` once
  successful and ``url_lag_s`` has passed, else 404).
- admin (never rate-counted): ``GET /_sim/audit``, ``GET|POST /_sim/faults``, ``GET|POST /_sim/accounts``
  (per-account limits and figures), ``POST /_sim/operations``
  (ACTIVE at once), ``DELETE /_sim/operations/<name>`` (forget one, as Flow sometimes loses an operation:
  status answers leave it out, cancel and the media URL answer 404), ``GET /_sim/media/<id>.mp4|.jpg``,
  ``GET /_sim/health``.

Lifecycle: PENDING, ACTIVE after 20% of a duration drawn in [lo, hi], then SUCCESSFUL or FAILED
(probability ``fail``). Prompt markers: ``[unsafe]`` is refused at submit (400, nothing created),
``[fail]`` fails at completion, ``[fail-upscale]`` lets the video succeed and fails its upscales.
More than ``rate`` arrivals in any sliding second get 429 ``Retry-After: 1``. Faults (``500``, ``503``,
``429``, ``timeout``, ``malformed``, ``401``, ``slow``) hit Flow's paths and the Gemini API's (no ``401`` there);
on submissions (generate/upscale, predictLongRunning) ``500``, ``timeout`` and ``malformed`` create the
operations first and count as ``ambiguous_submissions``.
Per-account limits (off by default; see ``accounts``): generations active, gap between submissions,
throttles before a hard block, block length, quota; the audit lists each account under ``accounts``.

The Gemini API (``gemini``): ``POST /v1beta/models/{model}:predictLongRunning``, ``GET
/v1beta/models/{model}/operations/{id}`` and ``GET /v1beta/files/{file}:download?alt=media`` (302 to the
keyless ``/_sim/storage/{file}.mp4``), keyed by ``x-goog-api-key`` or ``?key=`` (``gemini_keys``), with a
per-key quota of predictLongRunning calls in any sliding minute (``gemini_rpm``); outcomes video, error or
safety-filtered; the audit lists it under ``gemini``, each key by ``key_label`` (never the key itself).
"""

from __future__ import annotations

import logging

from veo_simulator.accounts import AccountLimits
from veo_simulator.app import Simulator
from veo_simulator.auth import bearer_account, session_account
from veo_simulator.cli import main
from veo_simulator.config import GEMINI_MODELS, GEMINI_RPM, REALISTIC_RENDER_S, VIDEO_SIZE, Contract, SimulatorConfig
from veo_simulator.errors import ApiError, ConfigError, SimulatorError, StateFileError
from veo_simulator.gemini_keys import key_label

__all__ = [
    "GEMINI_MODELS",
    "GEMINI_RPM",
    "REALISTIC_RENDER_S",
    "VIDEO_SIZE",
    "AccountLimits",
    "ApiError",
    "ConfigError",
    "Contract",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "StateFileError",
    "bearer_account",
    "key_label",
    "main",
    "session_account",
]

logger = logging.getLogger(__name__)
