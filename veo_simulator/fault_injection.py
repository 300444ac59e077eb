"""Injecting the fault mix into one API request, the part Flow's paths and the Gemini API's share.

Each API words the faults its own way (``FaultWords``); what a fault does is the same for both: ``503`` and
``429`` are answered before anything is created, ``500`` / ``timeout`` / ``malformed`` on a submission create
its operations first and then leave the client in doubt (``ambiguous_answer``), elsewhere they are a 500, a
504 held ``timeout_s``, and a 200 whose body is not the API's. ``401`` applies only where the request carries
credentials a fault can make expire (Flow's bearer token); ``slow`` holds any answer 0.2-1.0 s more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from veo_simulator.core import SimCore
from veo_simulator.errors import ApiError
from veo_simulator.exchange import SimResponse
from veo_simulator.faults import AMBIGUOUS, Fault, FaultDraw, FaultWords

__all__ = ["Expire", "ambiguous_answer", "with_faults"]

logger = logging.getLogger(__name__)

Expire = Callable[[], ApiError]
"""The ``401`` fault of one request: makes its credentials expire, and is the answer saying so."""
_UNREADABLE = b"<html><body>Bad Gateway</body>"


def with_faults(
    core: SimCore,
    path: str,
    words: FaultWords,
    answer: Callable[[FaultDraw], SimResponse],
    *,
    submission: bool,
    expire: Expire | None = None,
) -> SimResponse:
    """Draw this request's faults and answer with them; ``answer`` gives the normal answer (a submission's applies
    an ambiguous fault itself once it has created something, with ``ambiguous_answer``). The caller holds
    ``core.lock``; ``expire`` is None where ``401`` does not apply (that draw is then no fault)."""
    draw = core.faults.draw()
    if draw.fault is Fault.E401 and expire is None:
        draw = FaultDraw(None, draw.slow)
    wait_s = 0.0
    if draw.slow:
        core.audit.fault(Fault.SLOW)
        wait_s = core.faults.slow_delay()
    try:
        response = _faulted(core, path, words, answer, draw, submission, expire)
    except ApiError as error:
        response = SimResponse.error(error)
    response.wait_s += wait_s
    return response


def ambiguous_answer(core: SimCore, fault: Fault, created: int, payload: object, words: FaultWords) -> SimResponse:
    """A submission created ``created`` operations (the caller marks them), answered so the client cannot know it:
    500, a 200 cut short, or the real answer held ``timeout_s`` (past the client's read timeout, if it is shorter)."""
    core.audit.fault(fault)
    core.audit.ambiguous(created)
    logger.info("answering a submission ambiguously (%s): %d operation(s) created", fault.value, created)
    if fault is Fault.E500:
        return SimResponse.error(words.internal())
    if fault is Fault.MALFORMED:
        return SimResponse(200, words.truncated_submission)
    response = SimResponse.json(payload)
    response.wait_s = core.config.timeout_s
    return response


def _faulted(
    core: SimCore,
    path: str,
    words: FaultWords,
    answer: Callable[[FaultDraw], SimResponse],
    draw: FaultDraw,
    submission: bool,
    expire: Expire | None,
) -> SimResponse:
    fault = draw.fault
    if fault is None or (submission and fault in AMBIGUOUS):
        return answer(draw)
    core.audit.fault(fault)
    logger.info("injecting fault %s into %s", fault.value, path)
    if fault is Fault.E401 and expire is not None:
        raise expire()
    if fault is Fault.E503:
        raise words.unavailable()
    if fault is Fault.E429:
        raise words.throttled()
    if fault is Fault.E500:
        raise words.internal()
    if fault is Fault.MALFORMED:
        return SimResponse(200, _UNREADABLE)
    deadline = ApiError(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")
    response = SimResponse.error(deadline)
    response.wait_s = core.config.timeout_s
    return response
