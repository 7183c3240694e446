"""Credentials: newest first, fallback on 401, and secrets kept out of errors, logs and metrics."""

from __future__ import annotations

import base64
import contextlib
import logging

import httpx
import pytest
from prometheus_client import generate_latest

from shared.errors import ConfigError, PermanentError, TransientError
from shared.gateway import EndpointPolicy, RefusedDestinationError
from shared.gateway.testing import harness

NEW, OLD = "tok-new-5f1c9e", "tok-old-88a2d0"
CRM = EndpointPolicy(
    name="crm",
    base_url="https://api.example.com/",
    auth="bearer",
    credentials=("CRM_TOKEN_NEW", "CRM_TOKEN_OLD"),
)
USED = "eventyard_gateway_credential_used_total"


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TOKEN_NEW", NEW)
    monkeypatch.setenv("CRM_TOKEN_OLD", OLD)


async def only(token: str, request: httpx.Request) -> httpx.Response:
    """Answer 401 unless the request carries this bearer token."""
    if request.headers.get("Authorization") != f"Bearer {token}":
        return httpx.Response(401, text=f"bad {request.headers.get('Authorization')}")
    return httpx.Response(200, text=f"hello {request.headers['Authorization']}")


async def test_the_newest_credential_is_tried_first() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        return await only(NEW, request)

    h = harness(handle, CRM)
    await h.gateway.request("crm", "GET", "me")
    assert len(h.requests) == 1
    assert h.metric(USED, integration="crm", credential="0") == 1
    assert h.metric(USED, integration="crm", credential="1") == 0
    await h.gateway.aclose()


async def test_a_401_falls_back_to_the_older_credential_without_counting_a_retry() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        return await only(OLD, request)

    h = harness(handle, CRM)
    response = await h.gateway.request("crm", "POST", "notes")
    assert response.status_code == 200
    assert [r.headers["Authorization"] for r in h.requests] == [f"Bearer {NEW}", f"Bearer {OLD}"]
    assert h.sleep.delays == []
    assert h.metric(USED, integration="crm", credential="1") == 1
    assert h.metric(USED, integration="crm", credential="0") == 0
    await h.gateway.aclose()


async def test_every_credential_refused_is_permanent() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        return await only("something-else", request)

    h = harness(handle, CRM)
    with pytest.raises(
        PermanentError, match=r"returned 401.*\(with each of 2 credentials\)"
    ) as caught:
        await h.gateway.request("crm", "GET", "me")
    assert NEW not in str(caught.value)
    assert OLD not in str(caught.value)
    assert len(h.requests) == 2
    await h.gateway.aclose()


async def test_retries_start_again_from_the_newest_credential() -> None:
    answers = iter([503])

    async def handle(request: httpx.Request) -> httpx.Response:
        status = next(answers, None)
        return httpx.Response(status) if status else await only(OLD, request)

    h = harness(handle, CRM)
    await h.gateway.request("crm", "GET", "me")
    used = [r.headers["Authorization"] for r in h.requests]
    assert used == [f"Bearer {NEW}", f"Bearer {NEW}", f"Bearer {OLD}"]
    # Credential 0 got a 503 and a 401, neither a success, so only credential 1 is counted.
    assert h.metric(USED, integration="crm", credential="0") == 0
    assert h.metric(USED, integration="crm", credential="1") == 1
    await h.gateway.aclose()


@pytest.mark.parametrize(
    ("status", "counted"),
    [(200, 1), (204, 1), (302, 0), (401, 0), (403, 0), (404, 0), (429, 0), (500, 0), (503, 0)],
)
async def test_a_credential_is_counted_as_used_only_when_the_call_succeeded(
    status: int, counted: int
) -> None:
    async def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status)

    single = EndpointPolicy(
        name="crm",
        base_url="https://api.example.com/",
        auth="bearer",
        credentials=("CRM_TOKEN_NEW",),
    )
    h = harness(handle, single)
    with contextlib.suppress(PermanentError, TransientError):
        await h.gateway.request("crm", "POST", "notes")
    assert len(h.requests) == 1
    assert h.metric(USED, integration="crm", credential="0") == counted
    await h.gateway.aclose()


async def test_basic_and_header_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WMS_LOGIN", "robot:pa55-w0rd")
    seen: list[httpx.Headers] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(204)

    basic = EndpointPolicy(
        name="wms", base_url="https://api.example.com/", auth="basic", credentials=("WMS_LOGIN",)
    )
    keyed = EndpointPolicy(
        name="mail",
        base_url="https://api.example.com/",
        auth="header",
        auth_header="X-Api-Key",
        credentials=("CRM_TOKEN_NEW",),
    )
    h = harness(handle, basic, keyed)
    await h.gateway.request("wms", "GET")
    await h.gateway.request("mail", "GET")
    token = base64.b64encode(b"robot:pa55-w0rd").decode()
    assert seen[0]["Authorization"] == f"Basic {token}"
    assert seen[1]["X-Api-Key"] == NEW
    assert "Authorization" not in seen[1]
    await h.gateway.aclose()


async def test_an_unset_credential_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_TOKEN_NEW")

    async def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    h = harness(handle, CRM)
    with pytest.raises(ConfigError, match="CRM_TOKEN_NEW is not set"):
        await h.gateway.request("crm", "GET")
    assert h.requests == []
    await h.gateway.aclose()


async def test_credentials_never_go_to_another_origin() -> None:
    async def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    h = harness(handle, CRM, hosts={"evil.example.net": ["93.184.215.14"]})
    with pytest.raises(RefusedDestinationError, match="credentials go only to the base origin"):
        await h.gateway.request("crm", "GET", "https://evil.example.net/collect")
    assert h.requests == []
    await h.gateway.aclose()


async def test_secrets_stay_out_of_errors_audit_logs_and_metrics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="eventyard.audit")

    async def echo(request: httpx.Request) -> httpx.Response:
        # A careless server that quotes the credential back in its error body.
        token = request.headers["Authorization"].removeprefix("Bearer ")
        return httpx.Response(500, text=f"upstream rejected token {token!r}")

    h = harness(echo, CRM)
    with pytest.raises(TransientError) as caught:
        await h.gateway.request("crm", "GET", "me?token=" + NEW)
    message = str(caught.value)
    assert message.startswith("crm: GET /me returned 500: upstream rejected")
    audit = [r for r in caplog.records if r.name == "eventyard.audit"]
    assert len(audit) == CRM.max_retries + 1
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in audit)
    exposed = generate_latest(h.registry).decode()
    for secret in (NEW, OLD):
        assert secret not in message
        assert secret not in logged
        assert secret not in exposed
    await h.gateway.aclose()


async def test_each_attempt_leaves_one_audit_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="eventyard.audit")

    async def handle(request: httpx.Request) -> httpx.Response:
        return await only(OLD, request)

    h = harness(handle, CRM)
    await h.gateway.request("crm", "GET", "customers/7?expand=all")
    first, second = (r for r in caplog.records if r.name == "eventyard.audit")
    assert first.levelno == logging.INFO
    fields = ("integration", "method", "path", "status", "outcome", "attempt", "rotation_index")
    assert {f: getattr(first, f) for f in fields} == {
        "integration": "crm",
        "method": "GET",
        "path": "/customers/7",
        "status": 401,
        "outcome": "permanent",
        "attempt": 1,
        "rotation_index": 0,
    }
    assert {f: getattr(second, f) for f in ("status", "outcome", "rotation_index")} == {
        "status": 200,
        "outcome": "success",
        "rotation_index": 1,
    }
    assert isinstance(getattr(second, "duration_ms", None), float)
    assert second.levelno == logging.DEBUG  # a success is counted; its line only on request
    await h.gateway.aclose()


async def test_at_info_only_failed_attempts_leave_an_audit_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="eventyard.audit")

    async def handle(request: httpx.Request) -> httpx.Response:
        return await only(OLD, request)

    h = harness(handle, CRM)
    await h.gateway.request("crm", "GET", "customers/7")
    [line] = (r for r in caplog.records if r.name == "eventyard.audit")
    assert line.status == 401  # type: ignore[attr-defined]
    success = {"integration": "crm", "method": "GET", "status_class": "2xx", "outcome": "success"}
    assert h.metric("eventyard_outbound_requests_total", **success) == 1
    await h.gateway.aclose()
