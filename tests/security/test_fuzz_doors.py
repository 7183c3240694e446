"""Property-based fuzz of every door: the HTTP intake, the drop door and the contract decoder.

Invariants, whatever arrives: never a 500 and never an exception out of a consumer; nothing is
routed that its door may not produce (an internal-only contract from the drop door above all);
bad input is parked at its first attempt, never sent up the retry ladder; and the memory one
input takes is bounded. CI runs each with a fixed budget; `pytest -m fuzz_long tests/security`
runs the same properties with a long one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any, cast

import httpx
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Route

from contracts.base import DROP, INTAKE_HTTP, Contract
from contracts.envelope import CONTENT_TYPE, CloudEvent
from contracts.registry import CONTRACTS, lookup_key
from services.intake.app import QUEUE
from services.intake.dedupe import Deduplicator
from services.intake.dropped import decode_dropped, republisher
from services.intake.metrics import IntakeMetrics
from services.intake.routing import Parker, Router
from services.intake.sources import Source
from services.intake.webhooks import WebhookEndpoint
from shared.config import SourceConfig
from shared.decoding import decode_event
from shared.errors import ContractError
from shared.http import json_app
from shared.metrics import Metrics
from shared.publishing import Confirmer, Emitter
from shared.redact import Redactor
from shared.request_body import BodyBudget
from shared.testing import HandlerKit, MemoryBroker, MemoryMessage

CI_EXAMPLES = 300
LONG_EXAMPLES = 5000
BUDGETS = [
    pytest.param(CI_EXAMPLES, id="ci"),
    pytest.param(LONG_EXAMPLES, id="long", marks=pytest.mark.fuzz_long),
]
# What one input may cost while it is handled (a 1 MiB body parsed into Python is well below).
MEMORY_BOUND = 32 * 1024 * 1024
SECRET = "whsec_" + base64.b64encode(b"fuzz-secret-0123456789").decode()
PLAIN_SECRET = "fuzz-plain-secret"
STATUSES = {200, 202, 400, 401, 404, 405, 413, 415}


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextmanager
def memory_bounded() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"one input took {peak / 2**20:.1f} MiB"


def contract_of(routing_key: str) -> type[Contract]:
    return lookup_key(routing_key)


def examples_of(contract: type[Contract]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = contract.model_json_schema().get("examples", [])
    return found


# --- the HTTP door -------------------------------------------------------------------------

SOURCES = {
    "standard": SourceConfig(
        scheme="standard-webhooks",
        secrets=["S"],
        map={"order.paid": "order.created.v1", "mail": "email.requested.v1"},
    ),
    "stripe": SourceConfig(scheme="stripe", secrets=["S"], map={"order.paid": "order.created.v1"}),
    "github": SourceConfig(scheme="github", secrets=["S"], map={"push": "order.created.v1"}),
    "hmac": SourceConfig(scheme="hmac-sha256", secrets=["S"], id_header="X-Id"),
}


def http_door(broker: MemoryBroker) -> Starlette:
    secrets = {"standard": SECRET}
    sources = {
        name: Source(name, config, (secrets.get(name, PLAIN_SECRET),))
        for name, config in SOURCES.items()
    }
    confirmer = cast(Confirmer, broker)
    emitter = Emitter(confirmer, source="eventyard/intake", metrics=Metrics("intake"))
    endpoint = WebhookEndpoint(
        sources,
        router=Router(SOURCES, emitter),
        parker=Parker(confirmer, QUEUE, Redactor()),
        metrics=IntakeMetrics(CollectorRegistry()),
        dedupe=Deduplicator(),
        budget=BodyBudget(64 * 1024 * 1024),
    )
    return json_app([Route("/webhooks/{source}", endpoint.handle, methods=["POST"])])


def signed(source: str, body: bytes, webhook_id: str, headers: dict[str, str]) -> dict[str, str]:
    """The headers of a correctly signed delivery, so the fuzz gets past verification."""
    stamp = str(int(time.time()))
    plain = PLAIN_SECRET.encode()
    if source == "standard":
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        mac = hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        signature = "v1," + base64.b64encode(mac).decode()
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": stamp,
            "webhook-signature": signature,
        }
    if source == "stripe":
        mac_hex = hmac.new(plain, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        return {"stripe-signature": f"t={stamp},v1={mac_hex}"}
    digest = hmac.new(plain, body, hashlib.sha256).hexdigest()
    if source == "github":
        return {
            "x-hub-signature-256": f"sha256={digest}",
            "x-github-delivery": webhook_id,
            **headers,
        }
    return {"x-signature": digest, "x-id": webhook_id}


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)  # orjson writes 64-bit integers only
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def provider_bodies() -> st.SearchStrategy[bytes]:
    order = examples_of(lookup_key("order.created.v1"))[0]
    typed = st.fixed_dictionaries(
        {
            "id": st.text(max_size=250),
            "type": st.sampled_from(["order.paid", "mail", "push", "other"]) | st.text(max_size=30),
            "data": st.one_of(json_values, st.just(order), st.just({"object": order})),
        }
    )
    nested = st.integers(min_value=1, max_value=3000).map(
        lambda n: b'{"type": "order.paid", "data": ' + b"[" * n + b"]" * n + b"}"
    )
    return st.one_of(
        typed.map(orjson.dumps),
        json_values.map(orjson.dumps),
        nested,
        st.binary(max_size=2000),
    )


def mostly(value: Any, *others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`value` about three times in four, else one of `others`: most inputs get past the first
    check and reach the deeper ones, while every check still sees hostile values."""
    plain = st.just(value)
    return st.one_of(plain, plain, plain, st.one_of(*others))


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(
    str.strip
)
request_headers = mostly(
    {},
    st.dictionaries(
        st.sampled_from(
            ["content-encoding", "content-type", "x-github-event", "webhook-id", "x-id", "accept"]
        ),
        header_text,
        max_size=4,
    ),
)


@pytest.mark.parametrize("budget", BUDGETS)
def test_the_http_door_never_answers_500_nor_routes_what_it_may_not(budget: int) -> None:
    @fuzz_settings(budget)
    @given(
        source=st.sampled_from([*SOURCES, "nope"]),
        body=provider_bodies(),
        sign=mostly(True, st.just(False)),
        webhook_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=250),
        headers=request_headers,
    )
    def fuzz(
        source: str, body: bytes, sign: bool, webhook_id: str, headers: dict[str, str]
    ) -> None:
        broker = MemoryBroker()
        sent = dict(headers)
        if sign:
            sent.update(signed(source, body, webhook_id or "x", headers))
        with memory_bounded():
            answer = asyncio.run(post(http_door(broker), source, body, sent))
        assert answer.status_code in STATUSES, answer.text
        assert answer.json(), "every answer says what happened"
        for routed in broker.published():
            assert contract_of(routed.routing_key).PRODUCERS.allow(INTAKE_HTTP), routed
        if answer.status_code != 202:
            assert broker.sent == []

    fuzz()


async def post(app: Starlette, source: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        return await client.post(f"/webhooks/{source}", content=body, headers=headers)


# --- the drop door ---------------------------------------------------------------------------


def envelope(contract: type[Contract], data: Any, **override: Any) -> dict[str, Any]:
    suffix = ".shop" if contract.FAMILY else ""
    return {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/fuzz",
        "type": contract.TYPE + suffix,
        "time": "2026-11-20T09:14:03Z",
        "datacontenttype": "application/json",
        "dataschema": contract.dataschema(),
        "data": data,
        **override,
    }


# The contracts this door takes, as often as all the others together.
contracts = st.sampled_from([c for c in CONTRACTS if c.PRODUCERS.allow(DROP)]) | st.sampled_from(
    CONTRACTS
)
short_text = st.text(max_size=60) | st.text(min_size=190, max_size=255)
envelope_overrides = st.dictionaries(
    st.sampled_from(["id", "source", "type", "subject", "correlationid", "dataschema", "extra"]),
    short_text | json_values,
    max_size=3,
)


@st.composite
def dropped_messages(draw: st.DrawFn) -> MemoryMessage:
    contract = draw(contracts)
    # Half the messages carry plausible properties, so their bodies reach validation and routing.
    odd = draw(st.booleans())

    def prop(plain: Any, *others: st.SearchStrategy[Any]) -> Any:
        return draw(mostly(plain, *others)) if odd else plain

    examples = examples_of(contract)
    data = draw(mostly(examples[0], json_values)) if examples else draw(json_values)
    as_event = draw(st.booleans())
    payload = (
        st.builds(
            lambda o: orjson.dumps(envelope(contract, data, **o)), mostly({}, envelope_overrides)
        )
        if as_event
        else st.just(orjson.dumps(data))
    )
    body = draw(
        mostly(
            None,
            json_values.map(orjson.dumps),
            st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
            st.binary(max_size=2000),
        )
    ) or draw(payload)
    header_values = short_text | st.integers() | st.binary(max_size=40) | st.just("y" * 2000)
    claimed = CONTENT_TYPE if as_event else None
    return MemoryMessage(
        body=body,
        routing_key=QUEUE.name,
        content_type=prop(claimed, st.sampled_from(["application/json", ""]), short_text),
        content_encoding=prop(None, st.sampled_from(["utf-8", "gzip", "br"]), short_text),
        type=prop(None if as_event else contract.key(), short_text),
        message_id=prop(None, short_text),
        app_id=prop(None, short_text),
        correlation_id=prop(None, short_text),
        timestamp=prop(None, st.datetimes(), st.datetimes(timezones=st.just(UTC))),
        headers=prop({}, st.dictionaries(st.text(max_size=20), header_values, max_size=5)),
    )


@pytest.mark.parametrize("budget", BUDGETS)
def test_the_drop_door_parks_bad_input_at_once_and_routes_only_what_it_may(budget: int) -> None:
    @fuzz_settings(budget)
    @given(message=dropped_messages())
    def fuzz(message: MemoryMessage) -> None:
        kit = HandlerKit(service="intake")
        drop_step = republisher(Router(SOURCES, kit.emitter))
        with memory_bounded():
            result = asyncio.run(
                kit.run(drop_step, message, queue=QUEUE.name, decoder=decode_dropped)
            )
        # Every message ends acked, once: routed, or parked with a reason
        assert message.settled == ["ack"]
        assert result.sent == []
        if result.acked:
            [routed] = kit.broker.published()
            assert contract_of(routed.routing_key).PRODUCERS.allow(DROP), routed.routing_key
        else:
            # Bad input is parked at its first attempt: nothing a producer sends climbs the ladder
            assert (result.outcome, result.reason, result.attempts) == ("parked", "contract", 1)
            assert result.copy is not None
            assert result.copy.message.body == message.body

    fuzz()


# --- the contract decoder --------------------------------------------------------------------


@pytest.mark.parametrize("budget", BUDGETS)
def test_the_decoder_raises_only_contract_errors(budget: int) -> None:
    @fuzz_settings(budget)
    @given(message=dropped_messages())
    def fuzz(message: MemoryMessage) -> None:
        incoming = cast(AbstractIncomingMessage, message)
        for decode in (decode_event, decode_dropped):
            try:
                event = decode(incoming, ())
            except ContractError:
                continue
            assert isinstance(event, CloudEvent)
            assert isinstance(event.data, Contract)

    fuzz()
