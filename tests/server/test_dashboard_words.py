"""The dashboard's words for a failed job (`reasonText` in words.js, run by Node) fit both backends."""

from __future__ import annotations

from domain.values import ErrorReason
from tests.server.static_js import NEEDS_NODE, call_each

GEMINI_REASONS = sorted(set(ErrorReason) - {ErrorReason.CAPTCHA_REJECTED})
"""Every reason of the relay's own a job on a Gemini API profile can end with (reCAPTCHA is Flow's alone)."""


@NEEDS_NODE
def test_a_reason_a_gemini_job_can_have_has_its_own_sentence_and_names_no_flow() -> None:
    """They said "Flow gave no result", "Check Flow's library" and "Flow refused" whatever the backend, and the
    Gemini API's own reasons had no sentence at all ("The job failed (safety_filtered)")."""
    sentences = dict(zip(GEMINI_REASONS, call_each("words.js", "reasonText", GEMINI_REASONS), strict=True))
    assert {reason for reason, text in sentences.items() if "Flow" in text or "job failed (" in text} == set()
