"""The Gemini API calls the poller sends for Gemini profiles, each binding what a worker thread asks of the
GeminiClient (the Flow ones are in `actors.flow_calls`)."""

from __future__ import annotations

from collections.abc import Sequence

from actors.calls import Call, CallKind
from actors.gemini import GeminiClient
from actors.jobs import Job
from actors.profiles import GEMINI, Profile

__all__ = ["check_call", "submit_call"]


def submit_call(job: Job, profile: Profile) -> Call:
    """The `predictLongRunning` call of a job (no reCAPTCHA token: the key is the only credential)."""
    spec = job.spec()
    job.recaptcha_token = None

    def perform(client: GeminiClient) -> object:
        return client.generate(profile, spec)

    return Call(CallKind.SUBMIT, (job.generation_id,), job.account, perform, backend=GEMINI)


def check_call(jobs: Sequence[Job], profile_id: str, profile: Profile) -> Call:
    """The status check of one running job (the Gemini API checks one operation per request)."""
    (job,) = jobs
    handle = job.handle

    def perform(client: GeminiClient) -> object:
        return client.check_status(profile, [handle])

    return Call(CallKind.CHECK, (job.generation_id,), profile_id, perform, backend=GEMINI)
