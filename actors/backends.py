"""What differs between the backends a profile may use (Flow, the Gemini API), asked by the poller in one place:
which call submits or checks a job, how a job's checks are shaped, and what a backend cannot do."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from actors import flow_calls, gemini_calls
from actors.calls import Call
from actors.gemini import STATUS_BATCH, refusal
from actors.jobs import Job
from actors.poller_settings import PollerSettings
from actors.profile_state import ProfileState
from actors.profiles import Profile
from actors.scheduler import CheckShape

__all__ = [
    "cancel_call",
    "check_call",
    "check_shape",
    "model_used",
    "reads_credits",
    "refused",
    "service_name",
    "submit_call",
]

logger = logging.getLogger(__name__)

_FLOW_SHAPE = CheckShape()


def submit_call(job: Job, profile: Profile) -> Call:
    """The call that submits the job on this profile's backend."""
    if profile.is_gemini:
        return gemini_calls.submit_call(job, profile)
    return flow_calls.submit_call(job, profile)


def cancel_call(profile_id: str, profile: Profile, media_name: str) -> Call | None:
    """The call that asks the backend to stop a running job; None for the Gemini API, which has no cancel for
    Veo (the relay only stops checking)."""
    return None if profile.is_gemini else flow_calls.cancel_call(profile_id, profile, media_name)


def reads_credits(profile: Profile) -> bool:
    """Whether the profile's account has credits to read: Flow's do; the Gemini API bills the key's project."""
    return not profile.is_gemini


def service_name(profile: Profile) -> str:
    """How a message names the service a profile's jobs go to, at the start of a sentence."""
    return "The Gemini API" if profile.is_gemini else "Flow"


def model_used(job: Job, profile: Profile) -> str:
    """The model a submission of the job on this profile asks for: a Gemini profile's own model id (whatever
    Flow model key the request named), else the request's model key."""
    return profile.model if profile.is_gemini else job.model


def check_call(jobs: Sequence[Job], profile_id: str, state: ProfileState) -> Call:
    """The status check of these running jobs of one profile (one job for the Gemini API)."""
    if state.profile.is_gemini:
        return gemini_calls.check_call(jobs, profile_id, state.profile)
    return flow_calls.check_call(jobs, profile_id, state.profile, state.contract)


def check_shape(profile: Profile, settings: PollerSettings) -> CheckShape:
    """How a profile's running jobs are checked: Flow batches up to `--check-batch` and learns per requested
    model; the Gemini API checks one operation per request, learns per profile model, and nothing is checked
    before `gemini_first_check_s` (its documented minimum latency is about 11 s)."""
    if profile.is_gemini:
        return CheckShape(batch=STATUS_BATCH, floor_s=settings.gemini_first_check_s, model=profile.model)
    return _FLOW_SHAPE


def refused(job: Job, profile: Profile) -> str | None:
    """Why this profile's backend cannot take the job (None: it can); nothing is sent for such a job."""
    return refusal(job.spec()) if profile.is_gemini else None
