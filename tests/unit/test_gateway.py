"""The gateway's calls: status mapping, in-call retries, idempotency keys and address pinning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from shared.errors import ConfigError, PermanentError, TransientError
from shared.gateway import (
    CircuitOpenError,
    EndpointPolicy,
    GoneError,
    RefusedDestinationError,
)
from shared.gateway.endpoint import HostLimiters
from shared.gateway.retry import BACKOFF_BASE
from shared.gateway.testing import PUBLIC_ADDRESS, Handler, Harness, harness

CRM = EndpointPolicy(name="crm", base_url="https://api.example.com/v1/")


def answers(*responses: httpx.Response | Exception) -> Handler:
    """A handler giving these answers in order, then repeating the last."""
    queue = list(responses)

    async def handle(_: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle


@pytest.fixture
async def crm() -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(*responses: httpx.Response | Exception, policy: EndpointPolicy = CRM) -> Harness:
        made.append(harness(answers(*responses), policy))
        return made[-1]

    yield make
    for h in made:
        await h.gateway.aclose()


async def test_a_2xx_answer_is_returned(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(200, json={"id": 7}))
    response = await h.gateway.request("crm", "get", "/customers/7")
    assert response.json() == {"id": 7}
    assert h.requests[0].method == "GET"


async def test_requests_go_to_the_checked_address_with_the_original_host(
    crm: Callable[..., Harness],
) -> None:
    h = crm(httpx.Response(200))
    await h.gateway.request("crm", "GET", "customers?page=2")
    sent = h.requests[0]
    assert sent.url.host == PUBLIC_ADDRESS
    assert sent.url.path == "/v1/customers"
    assert sent.url.query == b"page=2"
    assert sent.headers["Host"] == "api.example.com"
    assert sent.extensions["sni_hostname"] == "api.example.com"


async def test_no_retry_on_400(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(400, text="bad field"))
    with pytest.raises(PermanentError, match=r"crm: GET /customers returned 400: bad field"):
        await h.gateway.request("crm", "GET", "customers")
    assert len(h.requests) == 1
    assert h.sleep.delays == []


async def test_get_is_retried_on_503_then_succeeds(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(503), httpx.Response(200, text="ok"))
    response = await h.gateway.request("crm", "GET", "customers")
    assert response.text == "ok"
    assert len(h.requests) == 2
    assert len(h.sleep.delays) == 1
    assert 0 <= h.sleep.delays[0] <= BACKOFF_BASE


async def test_retries_stop_after_max_retries_with_growing_backoff(
    crm: Callable[..., Harness],
) -> None:
    h = crm(httpx.Response(502))
    with pytest.raises(TransientError, match="returned 502"):
        await h.gateway.request("crm", "GET", "customers")
    assert len(h.requests) == CRM.max_retries + 1
    first, second = h.sleep.delays
    assert 0 <= first <= BACKOFF_BASE
    assert 0 <= second <= 2 * BACKOFF_BASE


async def test_post_without_idempotency_key_is_not_retried(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(503), httpx.Response(200))
    with pytest.raises(TransientError):
        await h.gateway.request("crm", "POST", "orders", json={"n": 1})
    assert len(h.requests) == 1
    assert "Idempotency-Key" not in h.requests[0].headers


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_a_write_without_idempotency_key_is_not_retried(
    crm: Callable[..., Harness], method: str
) -> None:
    h = crm(httpx.Response(503), httpx.Response(200))
    with pytest.raises(TransientError):
        await h.gateway.request("crm", method, "orders/42")
    assert len(h.requests) == 1
    assert h.sleep.delays == []


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_a_write_with_idempotency_key_carries_it_on_every_attempt(
    crm: Callable[..., Harness], method: str
) -> None:
    h = crm(httpx.Response(503), httpx.Response(502), httpx.Response(200))
    await h.gateway.request(
        "crm",
        method,
        "orders/42",
        headers={"Idempotency-Key": "caller-supplied"},
        idempotency_key="event-42",
    )
    assert [r.method for r in h.requests] == [method] * 3
    assert [r.headers.get_list("Idempotency-Key") for r in h.requests] == [["event-42"]] * 3


async def test_post_with_idempotency_key_is_retried_carrying_the_key(
    crm: Callable[..., Harness],
) -> None:
    h = crm(httpx.Response(503), httpx.Response(201))
    response = await h.gateway.request(
        "crm", "POST", "orders", json={"n": 1}, idempotency_key="order-42"
    )
    assert response.status_code == 201
    assert [r.headers["Idempotency-Key"] for r in h.requests] == ["order-42", "order-42"]
    assert [r.content for r in h.requests] == [b'{"n":1}', b'{"n":1}']


async def test_retry_after_within_five_seconds_is_honoured(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200))
    await h.gateway.request("crm", "GET", "customers")
    assert h.sleep.delays == [2.0]


async def test_long_retry_after_is_left_to_the_retry_ladder(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(429, headers={"Retry-After": "120"}), httpx.Response(200))
    with pytest.raises(TransientError) as caught:
        await h.gateway.request("crm", "GET", "customers")
    assert caught.value.retry_after == 120
    assert h.sleep.delays == []
    assert len(h.requests) == 1


async def test_retry_after_as_an_http_date_is_understood(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2065 07:28:00 GMT"}))
    with pytest.raises(TransientError) as caught:
        await h.gateway.request("crm", "GET", "customers")
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 86400
    assert h.sleep.delays == []


async def test_410_is_gone(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(410))
    with pytest.raises(GoneError) as caught:
        await h.gateway.request("crm", "GET", "customers/7")
    assert caught.value.reason_class == "gone"
    assert len(h.requests) == 1


async def test_redirects_are_refused_not_followed(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(302, headers={"Location": "http://169.254.169.254/"}))
    with pytest.raises(RefusedDestinationError, match="redirect not followed") as caught:
        await h.gateway.request("crm", "GET", "customers")
    assert caught.value.reason_class == "refused"
    assert len(h.requests) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (408, TransientError),
        (409, TransientError),
        (425, TransientError),
        (429, TransientError),
        (500, TransientError),
        (504, TransientError),
        (400, PermanentError),
        (403, PermanentError),
        (404, PermanentError),
        (422, PermanentError),
        (410, GoneError),
        (301, RefusedDestinationError),
        (307, RefusedDestinationError),
    ],
)
async def test_status_mapping(
    crm: Callable[..., Harness], status: int, error: type[Exception]
) -> None:
    h = crm(httpx.Response(status))
    with pytest.raises(error, match=f"crm: POST /orders returned {status}") as caught:
        await h.gateway.request("crm", "POST", "orders")
    # Callers report the status of a failed call (a delivery's `status_code`, say).
    assert getattr(caught.value, "status_code", None) == status


async def test_a_transport_timeout_is_transient(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.ReadTimeout("slow"))
    with pytest.raises(TransientError, match="crm: GET /customers timed out"):
        await h.gateway.request("crm", "GET", "customers")
    assert len(h.requests) == CRM.max_retries + 1


async def test_the_attempt_as_a_whole_is_bounded_by_the_timeout() -> None:
    async def stall(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(200)

    h = harness(stall, CRM)
    with pytest.raises(TransientError, match="timed out"):
        await h.gateway.request("crm", "POST", "orders", timeout=0.05)
    await h.gateway.aclose()


async def test_a_connection_error_is_transient(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.ConnectError("connection refused"))
    with pytest.raises(TransientError, match="ConnectError: connection refused"):
        await h.gateway.request("crm", "DELETE", "customers/7")


async def test_errors_name_the_path_without_its_query_string(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(500, text="failed for https://api.example.com/v1/x?api_key=k123456"))
    with pytest.raises(TransientError) as caught:
        await h.gateway.request("crm", "POST", "search?q=alice@example.com")
    message = str(caught.value)
    assert message.startswith("crm: POST /search returned 500")
    assert "alice" not in message
    assert "k123456" not in message


async def test_long_bodies_are_cut_in_error_messages(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(400, text="x" * 5000))
    with pytest.raises(PermanentError) as caught:
        await h.gateway.request("crm", "GET", "customers")
    assert len(str(caught.value)) < 300


async def test_unknown_endpoints_and_schemes_are_refused(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(200))
    with pytest.raises(ConfigError, match="no endpoint named 'erp'"):
        await h.gateway.request("erp", "GET")
    with pytest.raises(RefusedDestinationError, match="unsupported URL scheme 'file'"):
        await h.gateway.request("crm", "GET", "file:///etc/passwd")
    assert h.requests == []


async def test_endpoint_names_are_unique(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(200))
    with pytest.raises(ConfigError, match="already registered"):
        h.gateway.add(CRM)


async def test_absolute_urls_are_accepted(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(200))
    await h.gateway.request("crm", "GET", "https://api.example.com/v2/next?cursor=abc")
    assert h.requests[0].url.path == "/v2/next"


async def test_outcomes_are_counted_with_bounded_labels(crm: Callable[..., Harness]) -> None:
    h = crm(httpx.Response(503), httpx.Response(200))
    await h.gateway.request("crm", "GET", "customers/12345")
    requests = "eventyard_outbound_requests_total"
    labels = {"integration": "crm", "method": "GET"}
    assert h.metric(requests, **labels, status_class="5xx", outcome="transient") == 1
    assert h.metric(requests, **labels, status_class="2xx", outcome="success") == 1
    count = "eventyard_outbound_request_duration_seconds_count"
    assert h.metric(count, integration="crm") == 2


async def test_an_open_circuit_is_a_transient_error(crm: Callable[..., Harness]) -> None:
    policy = EndpointPolicy(name="crm", base_url=CRM.base_url, max_retries=0, breaker_min_calls=1)
    h = crm(httpx.Response(500), policy=policy)
    with pytest.raises(TransientError):
        await h.gateway.request("crm", "GET")
    with pytest.raises(CircuitOpenError, match="circuit open for crm"):
        await h.gateway.request("crm", "GET")
    assert len(h.requests) == 1


async def test_concurrency_is_bounded_per_endpoint() -> None:
    in_flight, peak = 0, 0

    async def slow(_: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200)

    h = harness(slow, EndpointPolicy(name="crm", base_url=CRM.base_url, concurrency=2))
    await asyncio.gather(*(h.gateway.request("crm", "GET") for _ in range(6)))
    assert peak == 2
    await h.gateway.aclose()


def test_endpoints_on_one_host_share_the_strictest_rate_limit() -> None:
    limiters = HostLimiters()
    limiters.declare("api.example.com", 50)
    limiters.declare("api.example.com", 0.5)
    limiters.declare("api.example.com", 10)
    slow = limiters.get("api.example.com", 50)
    assert slow.max_rate / slow.time_period == 0.5
    assert limiters.get("other.example.com", 20).max_rate == 20


async def test_cookies_a_response_sets_are_never_sent_back(crm: Callable[..., Harness]) -> None:
    # Requests go to pinned addresses: a kept cookie would follow the IP to other hosts, and a
    # session opened with one credential would ride along with the next.
    h = crm(httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"}))
    await h.gateway.request("crm", "GET", "/customers")
    await h.gateway.request("crm", "GET", "/customers")
    assert [r.headers.get("cookie") for r in h.requests] == [None, None]
