"""Bad input at every door: HTTP intake, the AMQP `intake` queue, and `eventyard publish`.

One intake process (module scope) on a throwaway vhost of the main broker takes everything;
each door must answer with a clear refusal or park with a reason, never a 500, never a crash
(intake is still ready afterwards), never a silent drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contracts.users import UserAuthenticatedV1
from shared import parking
from shared.settings import Settings
from tests.faults.report import Report
from tests.faults.world import SHOP_SECRET, fault_settings
from tests.support import signing
from tests.support.broker import throwaway_vhost
from tests.support.cli import eventyard
from tests.support.events import connected, queue_depth, sample_order
from tests.support.processes import ServiceProcess, service_environment
from tests.support.toml import write_integrations
from tests.support.traffic import order_paid
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

STRIPE_SECRET = "whsec_stripe_faults_0123456789"
MAX_BODY = 4096
ALLOWED = {200, 202, 400, 401, 404, 405, 413, 415}
HEADER_NAMES = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-signature",
    "stripe-signature",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "x-hub-signature-256",
]


@dataclass
class Intake:
    """The intake process under test and what the tests sent it."""

    process: ServiceProcess
    settings: Settings
    parked_ids: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        """Its HTTP base URL."""
        return self.process.url

    @property
    def broker_url(self) -> str:
        """The vhost it works on."""
        return self.settings.broker_url.get_secret_value()

    def ready(self) -> bool:
        """`/readyz` says 200 and the process is alive (synchronous, for hypothesis)."""
        assert self.process.alive, self.process.log_tail()
        return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """intake alone, with a standard-webhooks source (4 KiB limit) and a stripe source."""
    workdir = tmp_path_factory.mktemp("intake")
    with throwaway_vhost("eventyard-faults") as url:
        settings = fault_settings(url, workdir)
        sources: dict[str, Any] = {
            "shop": {
                "scheme": "standard-webhooks",
                "secrets": ["SHOP_SECRET"],
                "max_body_bytes": MAX_BODY,
                "map": {"order.paid": "order.created.v1"},
            },
            "stripe": {"scheme": "stripe", "secrets": ["STRIPE_SECRET"]},
        }
        write_integrations(settings.config, {"sources": sources})
        env = service_environment(settings, SHOP_SECRET=SHOP_SECRET, STRIPE_SECRET=STRIPE_SECRET)
        process = ServiceProcess("intake", env, workdir)
        process.start()
        try:
            deadline = time.monotonic() + 60
            while not _answers_ready(process):
                assert time.monotonic() < deadline, process.log_tail()
                time.sleep(0.2)
            yield Intake(process, settings)
        finally:
            process.terminate()
            if process.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.process.wait(30)
            process.kill()


def _answers_ready(process: ServiceProcess) -> bool:
    assert process.alive, process.log_tail()
    try:
        return httpx.get(f"{process.url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


printable = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
bodies = st.one_of(
    st.binary(max_size=MAX_BODY + 2000),
    st.text(max_size=300).map(str.encode),
    st.text(max_size=200).map(lambda t: t.encode("utf-16")),
    st.text(alphabet=st.characters(max_codepoint=255), max_size=200).map(
        lambda t: t.encode("latin-1")
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | printable,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(printable, inner, max_size=4),
        max_leaves=12,
    ).map(lambda value: orjson.dumps({"type": "order.paid", "data": value})),
)


def test_http_intake_fuzz_never_500_and_stays_ready(intake: Intake, report: Report) -> None:
    """Random headers, bodies, sizes and encodings, signed or not: only clear answers.

    Every 202 is stored: published, or parked (the answer says so, and the parked queue has it).
    """
    seen: Counter[int] = Counter()
    parked: set[str] = set()
    published = 0
    with httpx.Client(base_url=intake.url, timeout=10) as client:

        @settings(
            max_examples=200,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(
            source=st.sampled_from(["shop", "shop", "shop", "stripe", "nope", "%2e%2e", "shop%00"]),
            method=st.sampled_from(["POST", "POST", "POST", "POST", "PUT", "GET"]),
            # h11 (the client) refuses to send values with outer whitespace: strip them.
            headers=st.dictionaries(
                st.sampled_from(HEADER_NAMES), printable.map(str.strip), max_size=5
            ),
            body=bodies,
            sign=st.booleans(),
            webhook_id=st.text(alphabet="abcdef0123456789_", min_size=1, max_size=40),
        )
        # Each kind of answer at least once, whatever the random part draws:
        @example("shop", "POST", {}, order_paid("ord_fuzz"), True, "fuzz_ok")  # 202
        @example("shop", "POST", {}, b'{"type": "order.paid", "data": 1}', True, "f1")  # parked
        @example("shop", "POST", {}, b"\x00not json", True, "fuzz_2")  # 400
        @example("shop", "POST", {}, b"{}" + b" " * MAX_BODY, True, "fuzz_3")  # 413
        @example("shop", "POST", {"webhook-signature": "v1,AAAA"}, b"{}", False, "f4")  # 401
        @example("shop", "PUT", {}, b"{}", True, "fuzz_5")  # 405
        @example("nope", "POST", {}, b"{}", True, "fuzz_6")  # 404
        def fuzz(
            source: str,
            method: str,
            headers: dict[str, str],
            body: bytes,
            sign: bool,
            webhook_id: str,
        ) -> None:
            headers.pop("transfer-encoding", None)  # httpx decides the framing itself
            if sign:
                # The official signer takes text: bodies that are not UTF-8 stay unsigned.
                with contextlib.suppress(UnicodeDecodeError):
                    headers.update(signing.standard_webhooks(SHOP_SECRET, body, webhook_id))
            answer = client.request(method, f"/webhooks/{source}", content=body, headers=headers)
            seen[answer.status_code] += 1
            # Given any input, Then the answer is a clear one, never a 5xx
            assert answer.status_code in ALLOWED, (answer.status_code, answer.text)
            if answer.status_code == 202:
                reply = answer.json()
                assert reply["event_id"]
                if "parked" in reply:
                    parked.add(reply["event_id"])
                else:
                    nonlocal published
                    published += 1
            elif answer.status_code >= 400:
                # A reason comes with every refusal (JSON from intake; Starlette's own plain
                # "Method Not Allowed" for a PUT, see the report).
                assert answer.text.strip()
                if answer.headers.get("content-type", "").startswith("application/json"):
                    assert answer.json()["error"]

        # When the fuzzer has sent everything
        fuzz()
    # Then intake is still alive and ready, and every "parked" 202 is in the parked queue
    found = asyncio.run(_parked_ids(intake.broker_url))
    # Only a 202 is accepted (published, routed and confirmed; or parked); a 4xx is refused;
    # a 200 is a repeated delivery id, already stored once and not stored again.
    report.add(
        accepted=seen[202],
        refused=sum(n for code, n in seen.items() if code >= 400),
        delivered=published,
        lost=len(parked - found),
        note=(
            f"{published} published, {len(parked & found)} parked; answers "
            + ", ".join(f"{code}x{n}" for code, n in sorted(seen.items()))
        ),
    )
    assert intake.ready()
    intake.parked_ids |= parked
    assert parked <= found, parked - found


async def _parked_ids(url: str) -> set[str]:
    async with connected(url) as connection:
        found = await parking.peek(connection, "intake.parked", 10_000)
    return {m.message_id or "" for m in found}


async def test_slow_uploads_do_not_block_other_requests(intake: Intake, report: Report) -> None:
    """Slowloris: clients trickling their bodies byte by byte hold nobody else up.

    While five uploads are still unfinished, signed webhooks get their 202 and /readyz its
    200; a slow upload that does finish is answered 202 too.
    """
    host, port = "127.0.0.1", intake.process.port
    body = order_paid("ord_slow")
    slow_headers = signing.standard_webhooks(SHOP_SECRET, body, "msg_slow_complete")

    async def trickle(
        data: bytes, headers: dict[str, str], stop: asyncio.Event, chunk: int, pause: float
    ) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(
                f"POST /webhooks/shop HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Length: {len(data)}\r\n{head}\r\n".encode()
            )
            for start in range(0, len(data), chunk):
                if stop.is_set():
                    return b""
                writer.write(data[start : start + chunk])
                await writer.drain()
                await asyncio.sleep(pause)
            return await asyncio.wait_for(reader.read(4096), 15)
        finally:
            writer.transport.abort()

    # Given four clients trickling 1000-byte bodies a byte at a time (20 s each)
    never = asyncio.Event()
    stalled = [
        asyncio.create_task(trickle(b"x" * 1000, {}, never, chunk=1, pause=0.02)) for _ in range(4)
    ]
    # And one that sends its signed body in small pieces over about two seconds
    finishing = asyncio.create_task(
        trickle(body, slow_headers, asyncio.Event(), chunk=max(1, len(body) // 20), pause=0.1)
    )
    await asyncio.sleep(0.5)

    # When other senders post signed webhooks meanwhile
    async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
        answers = []
        for n in range(5):
            fast = order_paid(f"ord_fast_{n}")
            headers = signing.standard_webhooks(SHOP_SECRET, fast, f"msg_fast_{n}")
            answers.append(await client.post("/webhooks/shop", content=fast, headers=headers))
        ready = await client.get("/readyz")

    # Then they are answered while the slow uploads are still going
    assert [a.status_code for a in answers] == [202] * 5
    assert ready.status_code == 200
    assert not any(task.done() for task in stalled)
    # And the slow upload that finishes is answered too
    finished = await finishing
    assert finished.startswith(b"HTTP/1.1 202"), finished[:200]
    assert not any(task.done() for task in stalled)
    never.set()
    await asyncio.gather(*stalled, return_exceptions=True)
    await eventually(lambda: _ready_async(intake.url), timeout=10)
    note = "4 uploads stalled; 5 fast webhooks and a slow one 202 meanwhile"
    report.add(accepted=6, delivered=6, note=note)


async def _ready_async(url: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(f"{url}/readyz")).status_code == 200


def _dropped(body: bytes, message_id: str, **properties: Any) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        message_id=message_id,
        headers={"x-producer": "fault-suite"},
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        **properties,
    )


async def test_bad_messages_on_the_intake_queue_are_parked_with_a_reason(
    intake: Intake, report: Report
) -> None:
    """Non-JSON, another content type, unknown type, oversize, missing fields, and a
    contract that only intake's HTTP door may produce."""
    order = sample_order("ord_amqp").model_dump(mode="json")
    user: dict[str, Any] = UserAuthenticatedV1.model_json_schema()["examples"][0]
    cloud_event = {"specversion": "1.0", "id": "x", "type": "order.exploded", "source": "/x"}
    # name -> (message, the reason class parked with, text its error must contain)
    bad = {
        "not-json": (
            _dropped(b"\x00\xffnot json", "bad-1", type="order.created.v1"),
            "contract",
            "JSON",
        ),
        "content-type": (
            _dropped(orjson.dumps(order), "bad-2", content_type="text/plain"),
            "contract",
            "content type",
        ),
        "unknown-type": (
            _dropped(orjson.dumps(order), "bad-3", type="order.exploded.v9"),
            "contract",
            "order.exploded",
        ),
        "oversize": (
            _dropped(b"[" + b"0," * (1024 * 1024 // 2) + b"0]", "bad-4", type="order.created.v1"),
            "contract",
            "larger",
        ),
        "missing-fields": (
            _dropped(b'{"currency": "EUR"}', "bad-5", type="order.created.v1"),
            "contract",
            "order_id",
        ),
        "no-type": (_dropped(orjson.dumps(order), "bad-6"), "contract", "type"),
        "bad-cloudevent": (
            _dropped(
                orjson.dumps(cloud_event), "bad-7", content_type="application/cloudevents+json"
            ),
            "contract",
            "`dataschema` names no version",
        ),
        # Every contract this door accepts is bound in the yard's topology, so none is
        # unroutable here (tests/integration/test_intake.py parks an unroutable webhook).
        "not-accepted": (
            _dropped(orjson.dumps(user), "bad-8", type=UserAuthenticatedV1.key()),
            "contract",
            "contract not accepted at this door",
        ),
    }
    async with connected(intake.broker_url) as connection:
        before = await queue_depth(connection, "intake.parked")
        channel = await connection.channel(publisher_confirms=True)
        # Given producers drop each kind of bad message into the intake queue
        for message, _, _ in bad.values():
            await channel.default_exchange.publish(message, routing_key="intake")
        # Then each is parked, none is dropped, and each says why
        await eventually(
            lambda: _depth_at_least(connection, before + len(bad)), timeout=30, every=0.2
        )
        await asyncio.sleep(0.5)
        assert await queue_depth(connection, "intake.parked") == before + len(bad)
        assert await queue_depth(connection, "intake") == 0
        parked = {
            m.message_id: m
            for m in await parking.peek(connection, "intake.parked", before + len(bad) + 10)
        }
    # Each was accepted by the broker into `intake`, then parked there: none was delivered
    kept = {name: parked[m.message_id] for name, (m, _, _) in bad.items() if m.message_id in parked}
    report.add(
        accepted=len(bad),
        delivered=0,
        lost=len(bad) - len(kept),
        note="parked: " + ", ".join(f"{n}={c.reason}" for n, c in kept.items()),
    )
    for name, (message, reason, needle) in bad.items():
        copy = kept[name]
        assert copy.reason == reason, (name, copy)
        assert needle, name  # an empty needle would match any error
        assert needle.lower() in copy.error.lower(), (name, copy.error)
        assert copy.body == message.body, name
    # And intake is still ready
    assert await _ready_async(intake.url)


async def _depth_at_least(connection: Any, count: int) -> bool:
    return await queue_depth(connection, "intake.parked") >= count


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (("order.created.v1", "-"), b"{not json", "not valid JSON"),
        (("order.created.v1", "-"), b'{"currency": "euro"}', "invalid order.created.v1"),
        (("order.exploded.v9", "-"), b"{}", "order.exploded"),
        (("order.created", "-"), b"{}", "order.created"),
        (("order.created.v1", "/nonexistent/order.json"), None, "no such file"),
        (("order.created.v1", "-"), b'{"specversion": "1.0", "data": {}}', "not a whole"),
    ],
    ids=["not-json", "invalid", "unknown-type", "no-version", "no-file", "whole-event"],
)
async def test_eventyard_publish_refuses_bad_input_clearly(
    intake: Intake, args: tuple[str, ...], stdin: bytes | None, needle: str
) -> None:
    """`eventyard publish` with bad input: exit 2, one line on stderr saying why, no traceback."""
    done = await asyncio.to_thread(eventyard, intake.settings, "publish", *args, stdin=stdin)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("eventyard: "), done.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in done.stderr


def test_valid_publish_after_all_that_is_stored(intake: Intake) -> None:
    """A control: `eventyard publish` of a valid order exits 0, so refusals are not blanket."""
    payload = sample_order("ord_control").model_dump_json().encode()
    done = eventyard(intake.settings, "publish", "order.created.v1", "-", stdin=payload)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert intake.ready()
