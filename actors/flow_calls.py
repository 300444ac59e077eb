"""The Flow calls the poller sends, each binding what a worker thread will ask of the FlowClient."""

from __future__ import annotations

from collections.abc import Sequence

from actors.calls import Call, CallKind
from actors.flow import FlowClient, StatusContract, UpscaleSpec
from actors.jobs import Job
from actors.profiles import Profile

__all__ = ["cancel_call", "check_call", "credits_call", "refresh_token_call", "resolve_call", "submit_call"]


def submit_call(job: Job, profile: Profile) -> Call:
    """The generate or upscale call of a job (the token is used once, then forgotten)."""
    spec = job.spec()
    token, job.recaptcha_token = job.recaptcha_token, None

    def perform(client: FlowClient) -> object:
        if isinstance(spec, UpscaleSpec):
            return client.upscale(profile, spec, token)
        return client.generate(profile, spec, token)

    return Call(CallKind.SUBMIT, (job.generation_id,), job.account, perform)


def check_call(jobs: Sequence[Job], profile_id: str, profile: Profile, contract: StatusContract) -> Call:
    """One status check of several running jobs of one profile."""
    handles = [job.handle for job in jobs]

    def perform(client: FlowClient) -> object:
        return client.check_status(profile, handles, contract)

    return Call(CallKind.CHECK, tuple(job.generation_id for job in jobs), profile_id, perform, contract)


def resolve_call(job: Job, profile: Profile) -> Call:
    """Fetch the video URL of a finished job (media contract)."""
    media_id = job.media_name or job.operation_name or ""
    job.url_attempts += 1

    def perform(client: FlowClient) -> object:
        return client.resolve_video_url(profile, media_id)

    return Call(CallKind.RESOLVE, (job.generation_id,), job.account, perform)


def cancel_call(profile_id: str, profile: Profile, media_name: str) -> Call:
    """Ask Flow to stop a running job (best effort)."""

    def perform(client: FlowClient) -> object:
        client.cancel(profile, media_name)
        return None

    return Call(CallKind.CANCEL, (), profile_id, perform)


def refresh_token_call(profile_id: str, profile: Profile) -> Call:
    """Turn the profile's session cookie into a fresh bearer token."""

    def perform(client: FlowClient) -> object:
        return client.refresh_bearer(profile)

    return Call(CallKind.REFRESH_TOKEN, (), profile_id, perform)


def credits_call(profile_id: str, profile: Profile) -> Call:
    """Read the account's credit balance."""

    def perform(client: FlowClient) -> object:
        return client.credits(profile)

    return Call(CallKind.CREDITS, (), profile_id, perform)
