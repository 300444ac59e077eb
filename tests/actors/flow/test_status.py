"""Status checks under both contracts: request shapes, every status, missing items and errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from actors.flow import (
    ContractRejected,
    FlowClient,
    MalformedResponse,
    StatusHandle,
    Throttled,
    Transient,
    UnreadableSubmission,
)
from actors.profiles import Profile
from tests.actors.flow.conftest import FLOW, envelope

STATUS = f"{FLOW}/v1/video:batchCheckAsyncVideoGenerationStatus"
A = StatusHandle(
    operation_name="op-a", media_name="media-a", scene_id="scene-a", status="MEDIA_GENERATION_STATUS_PENDING"
)
B = StatusHandle(operation_name="op-b", scene_id="scene-b")
FIFE = (
    "https://storage.googleapis.com/ai-sandbox-videofx/video/e6ba4f15?GoogleAccessId=x&Expires=1761767347&Signature=y"
)


def operation(name: str, status: str, **extra: Any) -> dict[str, Any]:
    """One entry of the legacy operations[] answer."""
    return {
        "operation": {"name": name, **extra.pop("op", {})},
        "sceneId": extra.pop("scene", None),
        "status": status,
        **extra,
    }


def media(name: str, status: str, **media_status: Any) -> dict[str, Any]:
    """One entry of the 2026 media[] answer."""
    return {
        "name": name,
        "projectId": "proj-1",
        "workflowId": "wf",
        "mediaMetadata": {
            "createTime": "2026-05-18T10:00:00Z",
            "mediaStatus": {"mediaGenerationStatus": status, **media_status},
            "visibility": "PRIVATE",
        },
        "video": {"generatedVideo": {"seed": 25325, "model": "veo_3_1_r2v_lite"}, "dimensions": {"length": "8s"}},
    }


def test_operations_contract_sends_names_scene_ids_and_last_status(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """The legacy request echoes operation.name, sceneId and the last known status."""
    route = router.post(STATUS).respond(200, json={"operations": []})
    client.check_status(profile, [A, B], "operations")
    assert json.loads(route.calls.last.request.content) == {
        "operations": [
            {"operation": {"name": "op-a"}, "sceneId": "scene-a", "status": "MEDIA_GENERATION_STATUS_PENDING"},
            {"operation": {"name": "op-b"}, "sceneId": "scene-b"},
        ]
    }
    assert route.calls.last.request.headers["authorization"].startswith("Bearer ")


def test_media_contract_sends_media_names_with_the_project(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """The 2026 request names media (falling back to the operation name) with the profile's project."""
    route = router.post(STATUS).respond(200, json={"media": []})
    client.check_status(profile, [A, B], "media")
    assert json.loads(route.calls.last.request.content) == {
        "media": [{"name": "media-a", "projectId": "proj-1"}, {"name": "op-b", "projectId": "proj-1"}]
    }


@pytest.mark.parametrize("status", ["MEDIA_GENERATION_STATUS_PENDING", "MEDIA_GENERATION_STATUS_ACTIVE"])
def test_operations_pending_and_active_are_not_terminal(
    client: FlowClient, router: respx.MockRouter, profile: Profile, status: str
) -> None:
    """Pending and active report their status and keep polling."""
    router.post(STATUS).respond(200, json={"operations": [operation("op-a", status, scene="scene-a")]})
    [result] = client.check_status(profile, [A], "operations")
    assert result.handle == A
    assert result.name == "op-a"
    assert result.scene_id == "scene-a"
    assert result.status == status
    assert not result.terminal
    assert not result.successful
    assert result.error_reason is None


def test_operations_successful_carries_media_id_and_fife_url(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """SUCCESSFUL under the legacy contract carries mediaGenerationId and the signed fifeUrl."""
    done = operation(
        "op-a",
        "MEDIA_GENERATION_STATUS_SUCCESSFUL",
        scene="scene-a",
        mediaGenerationId="CAUSJD",
        op={
            "metadata": {
                "@type": "type.googleapis.com/google.internal.labs.aisandbox.v1.Media",
                "name": "CAUSJD",
                "video": {
                    "seed": 17071,
                    "mediaGenerationId": "CAUSJD",
                    "fifeUrl": FIFE,
                    "model": "veo_3_1_t2v_fast_relaxed",
                },
            }
        },
    )
    router.post(STATUS).respond(200, json={"operations": [done], "remainingCredits": 44440})
    [result] = client.check_status(profile, [A], "operations")
    assert result.terminal
    assert result.successful
    assert result.media_generation_id == "CAUSJD"
    assert result.video_url == FIFE
    assert result.remaining_credits == 44440  # the account's balance, which the answer carries


def test_operations_failed_carries_the_reason_from_the_error_message(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """A failed operation's error.message is Flow's reason, kept verbatim, with a plain message."""
    failed = operation(
        "op-a", "MEDIA_GENERATION_STATUS_FAILED", op={"error": {"code": 3, "message": "PUBLIC_ERROR_UNSAFE_GENERATION"}}
    )
    router.post(STATUS).respond(200, json={"operations": [failed]})
    [result] = client.check_status(profile, [A], "operations")
    assert result.terminal
    assert not result.successful
    assert result.error_code == 3
    assert result.error_reason == "PUBLIC_ERROR_UNSAFE_GENERATION"
    assert result.error_message == "Flow reported the generation as failed (PUBLIC_ERROR_UNSAFE_GENERATION)."
    assert result.scene_id == "scene-a"


def test_operations_failed_with_a_sentence_keeps_it_in_the_message(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """An error message that is prose is quoted, and no reason is invented."""
    failed = operation(
        "op-a", "MEDIA_GENERATION_STATUS_FAILED", op={"error": {"code": 13, "message": "Internal error."}}
    )
    router.post(STATUS).respond(200, json={"operations": [failed]})
    [result] = client.check_status(profile, [A], "operations")
    assert result.terminal
    assert result.error_reason is None
    assert result.error_message is not None
    assert "Internal error." in result.error_message


@pytest.mark.parametrize(
    "status",
    ["MEDIA_GENERATION_STATUS_PENDING", "MEDIA_GENERATION_STATUS_SCHEDULED", "MEDIA_GENERATION_STATUS_ACTIVE"],
)
def test_media_running_statuses_are_not_terminal(
    client: FlowClient, router: respx.MockRouter, profile: Profile, status: str
) -> None:
    """Pending, scheduled and active media keep polling."""
    router.post(STATUS).respond(200, json={"media": [media("media-a", status)], "remainingCredits": 43890})
    [result] = client.check_status(profile, [A], "media")
    assert result.handle == A
    assert result.status == status
    assert result.scene_id == "scene-a"
    assert not result.terminal


def test_media_successful_has_the_media_id_and_no_url(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """SUCCESSFUL under the media contract names the media; the URL is resolved separately."""
    router.post(STATUS).respond(200, json={"media": [media("media-a", "MEDIA_GENERATION_STATUS_SUCCESSFUL")]})
    [result] = client.check_status(profile, [A], "media")
    assert result.terminal
    assert result.successful
    assert result.media_generation_id == "media-a"
    assert result.video_url is None


def test_media_failed_carries_error_and_failure_reasons(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """A failed media reports error.message as the reason and lists failureReasons in the message."""
    failed = media(
        "media-a",
        "MEDIA_GENERATION_STATUS_FAILED",
        error={"code": 3, "message": "PUBLIC_ERROR_IP_INPUT_IMAGE"},
        failureReasons=["IP_PROHIBITED"],
    )
    router.post(STATUS).respond(200, json={"media": [failed]})
    [result] = client.check_status(profile, [A], "media")
    assert result.terminal
    assert not result.successful
    assert result.error_code == 3
    assert result.error_reason == "PUBLIC_ERROR_IP_INPUT_IMAGE"
    assert (
        result.error_message == "Flow reported the generation as failed (PUBLIC_ERROR_IP_INPUT_IMAGE, IP_PROHIBITED)."
    )


def test_media_failed_with_only_failure_reasons_uses_the_first(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """Without error.message the first failureReason is the reason."""
    failed = media("media-a", "MEDIA_GENERATION_STATUS_FAILED", failureReasons=["IP_PROHIBITED"])
    router.post(STATUS).respond(200, json={"media": [failed]})
    [result] = client.check_status(profile, [A], "media")
    assert result.error_reason == "IP_PROHIBITED"


@pytest.mark.parametrize("contract", ["operations", "media"])
def test_missing_items_are_absent_and_order_follows_the_handles(
    client: FlowClient, router: respx.MockRouter, profile: Profile, contract: str
) -> None:
    """Jobs Flow leaves out are absent (still running); found ones come back in the order asked."""
    c = StatusHandle(operation_name="op-c")
    if contract == "media":
        body = {
            "media": [
                media("op-c", "MEDIA_GENERATION_STATUS_ACTIVE"),
                media("media-a", "MEDIA_GENERATION_STATUS_ACTIVE"),
            ]
        }
    else:
        body = {
            "operations": [
                operation("op-c", "MEDIA_GENERATION_STATUS_ACTIVE"),
                operation("op-a", "MEDIA_GENERATION_STATUS_ACTIVE"),
            ]
        }
    router.post(STATUS).respond(200, json=body)
    results = client.check_status(profile, [A, B, c], contract)  # type: ignore[arg-type]
    assert [r.handle for r in results] == [A, c]


def test_items_nobody_asked_about_are_ignored(client: FlowClient, router: respx.MockRouter, profile: Profile) -> None:
    """An answer about an unknown operation does not appear in the result."""
    router.post(STATUS).respond(200, json={"operations": [operation("op-zzz", "MEDIA_GENERATION_STATUS_ACTIVE")]})
    assert client.check_status(profile, [A], "operations") == []


def test_operations_matched_by_scene_id_when_the_name_differs(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """An entry whose operation name changed is still matched to its job by scene id."""
    router.post(STATUS).respond(
        200, json={"operations": [operation("op-a_upsampled", "MEDIA_GENERATION_STATUS_ACTIVE", scene="scene-b")]}
    )
    [result] = client.check_status(profile, [A, B], "operations")
    assert result.handle == B


@pytest.mark.parametrize("status", ["MEDIA_GENERATION_STATUS_UNSPECIFIED", "QUEUED", "SOMETHING_NEW", None])
def test_unknown_statuses_are_not_terminal(
    client: FlowClient, router: respx.MockRouter, profile: Profile, status: str | None
) -> None:
    """Anything but SUCCESSFUL, FAILED and CANCELLED keeps polling."""
    router.post(STATUS).respond(200, json={"operations": [{"operation": {"name": "op-a"}, "status": status}]})
    [result] = client.check_status(profile, [A], "operations")
    assert result.status == status
    assert not result.terminal


def test_cancelled_is_terminal_with_the_cancelled_reason(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """CANCELLED ends the job, as failed with reason 'cancelled'."""
    router.post(STATUS).respond(200, json={"media": [media("media-a", "MEDIA_GENERATION_STATUS_CANCELLED")]})
    [result] = client.check_status(profile, [A], "media")
    assert result.terminal
    assert not result.successful
    assert result.error_reason == "cancelled"


def test_operation_with_an_error_and_no_status_is_failed(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """A finished operation carrying an error but no status counts as FAILED."""
    router.post(STATUS).respond(
        200,
        json={"operations": [{"operation": {"name": "op-a", "error": {"code": 3, "message": "PUBLIC_ERROR_MINOR"}}}]},
    )
    [result] = client.check_status(profile, [A], "operations")
    assert result.terminal
    assert result.status == "MEDIA_GENERATION_STATUS_FAILED"
    assert result.error_reason == "PUBLIC_ERROR_MINOR"


def test_an_answer_under_the_other_contract_is_still_read(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """Asked with operations but answered with media[], the media entries are used."""
    router.post(STATUS).respond(200, json={"media": [media("media-a", "MEDIA_GENERATION_STATUS_ACTIVE")]})
    [result] = client.check_status(profile, [A], "operations")
    assert result.handle == A


@pytest.mark.parametrize("contract", ["operations", "media"])
def test_invalid_argument_on_a_status_check_rejects_the_contract(
    client: FlowClient, router: respx.MockRouter, profile: Profile, contract: str
) -> None:
    """A 400 INVALID_ARGUMENT raises ContractRejected naming the contract and the batch size."""
    route = router.post(STATUS).respond(400, json=envelope(400, "INVALID_ARGUMENT", message="Invalid JSON payload"))
    with pytest.raises(ContractRejected) as caught:
        client.check_status(profile, [A, B], contract)  # type: ignore[arg-type]
    assert caught.value.contract == contract
    assert caught.value.handle_count == 2
    assert caught.value.reason == "invalid_request"
    assert caught.value.http_status == 400
    assert "fewer jobs" in caught.value.message
    assert route.call_count == 1


def test_single_handle_rejection_does_not_suggest_smaller_batches(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """With one handle the only remedy is the other contract."""
    router.post(STATUS).respond(400, json=envelope(400, "INVALID_ARGUMENT"))
    with pytest.raises(ContractRejected) as caught:
        client.check_status(profile, [A], "media")
    assert caught.value.handle_count == 1
    assert "fewer jobs" not in caught.value.message


def test_throttling_on_a_status_check_is_not_a_contract_rejection(
    client: FlowClient, router: respx.MockRouter, profile: Profile
) -> None:
    """Errors with a known reason keep their own kind on status checks."""
    router.post(STATUS).respond(429, json=envelope(429, "RESOURCE_EXHAUSTED", "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"))
    with pytest.raises(Throttled):
        client.check_status(profile, [A], "operations")


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, json={"error": {"code": 500, "message": "Internal error encountered."}}),
        httpx.Response(503),
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("reset"),
        httpx.ConnectError("refused"),
    ],
)
def test_status_check_failures_are_transient_not_ambiguous(
    client: FlowClient, router: respx.MockRouter, profile: Profile, failure: httpx.Response | Exception
) -> None:
    """A status check creates nothing: 500s and timeouts are merely transient."""
    if isinstance(failure, httpx.Response):
        router.post(STATUS).mock(return_value=failure)
    else:
        router.post(STATUS).mock(side_effect=failure)
    with pytest.raises(Transient) as caught:
        client.check_status(profile, [A], "operations")
    assert caught.value.proves_nothing_created is True


@pytest.mark.parametrize("content", [b"<html>", b'{"operations": {"a": 1}}', b'{"media": [{"name": 5}]}'])
def test_unreadable_status_answer_is_malformed_not_ambiguous(
    client: FlowClient, router: respx.MockRouter, profile: Profile, content: bytes
) -> None:
    """An unreadable status body raises MalformedResponse, which proves nothing was created."""
    router.post(STATUS).respond(200, content=content)
    with pytest.raises(MalformedResponse) as caught:
        client.check_status(profile, [A], "media")
    assert not isinstance(caught.value, UnreadableSubmission)
    assert caught.value.proves_nothing_created is True


def test_status_check_needs_at_least_one_handle(client: FlowClient, router: respx.MockRouter, profile: Profile) -> None:
    """An empty check is a caller bug and sends nothing."""
    with pytest.raises(ValueError, match="at least one handle"):
        client.check_status(profile, [], "operations")
    assert router.calls.call_count == 0
