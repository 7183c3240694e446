"""What the consume path tells the attempts log of each attempt, and how a service's reporter
batches it: bounded, never waiting, never losing a batch to one bad record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.attempts import MAX_RECORDS, REQUEST_CHARS, AttemptsRecordedV1
from contracts.envelope import CloudEvent
from contracts.orders import OrderCreatedV1
from shared.attempts.reporter import AttemptReporter, Pending, request_excerpt
from shared.consumer import Incoming, Reported
from shared.errors import DeferredError, PermanentError, PublishError, TransientError
from shared.metrics import Metrics
from shared.redact import Redactor
from shared.settings import AttemptsSettings
from shared.testing import HandlerKit, MemoryBroker, MemoryMessage, event_of
from tests.support.events import sample_order

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
SECRET = "sk_live_never_in_the_log"


class HttpError(TransientError):
    """A far end's 503, as the gateway raises it."""

    status_code = 503


def attempt(n: int, **fields: Any) -> Pending:
    values: dict[str, Any] = {
        "event_id": f"evt-{n}", "event_type": "order.created", "kind": "delivery",
        "target": "partner", "attempt": 1, "at": AT.timestamp(), "outcome": "succeeded",
    }  # fmt: skip
    return Pending(**{**values, **fields})


def counted(metrics: Metrics, fate: str) -> float:
    value = metrics.registry.get_sample_value(
        "eventyard_attempts_total", {"service": "tests", "fate": fate}
    )
    return value or 0.0


async def test_a_success_is_told_with_what_the_far_end_answered() -> None:
    kit = HandlerKit()

    async def deliver(incoming: Incoming[OrderCreatedV1]) -> None:
        incoming.answered(202, '{"ok":true}')

    result = await kit.run(deliver, sample_order("ord_1"), reported=Reported("delivery", "p"))
    assert result.acked
    record = result.record
    assert record is not None
    assert (record.kind, record.target, record.attempt, record.outcome) == (
        "delivery", "p", 1, "succeeded"
    )  # fmt: skip
    assert (record.status_code, record.excerpt, record.event_type) == (
        202, '{"ok":true}', "order.created"
    )  # fmt: skip
    assert record.duration_ms is not None
    # What it handled: the event's data onward, not its envelope again
    assert (record.request or "").startswith('"data":{')
    assert "ord_1" in (record.request or "")


async def test_a_retry_is_told_with_its_rung_status_and_error_class_redacted() -> None:
    kit = HandlerKit(redactor=Redactor([SECRET]))

    async def failing(_: Incoming[OrderCreatedV1]) -> None:
        raise HttpError(f"partner answered 503 ({SECRET})")

    result = await kit.run(failing, sample_order("ord_1"), attempt=2)
    assert result.retried
    record = result.record
    assert record is not None
    assert (record.outcome, record.attempt, record.rung, record.status_code) == (
        "failed", 2, result.rung, 503
    )  # fmt: skip
    assert record.error_class == "HttpError"
    assert (record.kind, record.target) == ("command", "tests.step")  # a step's defaults
    assert SECRET not in (record.excerpt or "")
    assert record.request is None  # told with the first attempt, not again on each retry


async def test_parked_dropped_and_deferred_attempts() -> None:
    kit = HandlerKit()

    async def refused(_: Incoming[OrderCreatedV1]) -> None:
        raise PermanentError("the CRM refused the order")

    async def best_effort(incoming: Incoming[OrderCreatedV1]) -> None:
        incoming.gave_up(HttpError("analytics down"))

    async def not_due(_: Incoming[OrderCreatedV1]) -> None:
        raise DeferredError(datetime(2999, 1, 1, tzinfo=UTC))

    parked = await kit.run(refused, sample_order("ord_1"))
    assert parked.parked
    assert parked.record is not None
    assert (parked.record.outcome, parked.record.rung) == ("parked", None)
    assert parked.record.request is not None  # where it ends parked: what it was
    dropped = await kit.run(best_effort, sample_order("ord_1"))
    assert dropped.acked
    assert dropped.record is not None
    assert (dropped.record.outcome, dropped.record.status_code) == ("dropped", 503)
    deferred = await kit.run(not_due, sample_order("ord_1"))
    assert deferred.outcome == "deferred"
    assert deferred.record is None  # not due yet: no attempt was used


async def test_a_message_that_does_not_decode_is_told_by_its_message_id() -> None:
    kit = HandlerKit()

    async def never(_: Incoming[Any]) -> None:
        raise AssertionError("not called")

    message = MemoryMessage(body=b"not json", message_id="m-1", routing_key="order.created.v1")
    result = await kit.run(never, message)
    assert result.parked
    assert result.record is not None
    assert (result.record.event_id, result.record.event_type, result.record.outcome) == (
        "m-1", "order.created.v1", "parked"
    )  # fmt: skip
    assert result.record.request == "not json"  # no envelope: the body's start


async def test_a_step_that_writes_the_log_is_not_reported() -> None:
    kit = HandlerKit()

    async def ok(_: Incoming[OrderCreatedV1]) -> None:
        return None

    assert (await kit.run(ok, sample_order("ord_1"), reported=None)).record is None


def reporter_on(**options: Any) -> tuple[AttemptReporter, Metrics, MemoryBroker]:
    kit = HandlerKit()
    return AttemptReporter("tests", kit.emitter, kit.metrics, **options), kit.metrics, kit.broker


def batches(broker: MemoryBroker) -> list[AttemptsRecordedV1]:
    return [event_of(sent).data for sent in broker.published()]


async def test_attempts_go_out_in_batches_of_at_most_the_contract_limit() -> None:
    reporter, metrics, broker = reporter_on()
    for n in range(2 * MAX_RECORDS + 7):
        reporter.add(attempt(n))
    await reporter.flush()
    sizes = [len(b.records) for b in batches(broker)]
    assert sizes == [MAX_RECORDS, MAX_RECORDS, 7]
    assert batches(broker)[0].records[0].event_id == "evt-0"  # oldest first
    assert counted(metrics, "reported") == 2 * MAX_RECORDS + 7
    assert reporter.waiting == ()


async def test_beyond_its_capacity_the_oldest_attempts_are_dropped_and_counted() -> None:
    reporter, metrics, _ = reporter_on(capacity=MAX_RECORDS)
    for n in range(MAX_RECORDS + 3):
        reporter.add(attempt(n))
    assert counted(metrics, "dropped") == 3
    assert reporter.waiting[0].event_id == "evt-3"


async def test_a_refused_batch_waits_for_the_next_round_in_its_order() -> None:
    class Refusing:
        def __init__(self) -> None:
            self.refuse = True
            self.published: list[AttemptsRecordedV1] = []

        async def publish_event(self, event: CloudEvent[Any], **_: Any) -> None:
            if self.refuse:
                raise PublishError("no confirm")
            self.published.append(AttemptsRecordedV1.model_validate(event.data))

    emitter = Refusing()
    metrics = Metrics("tests")
    reporter = AttemptReporter("tests", emitter, metrics)  # type: ignore[arg-type]
    for n in range(3):
        reporter.add(attempt(n))
    await reporter.flush()
    assert [a.event_id for a in reporter.waiting] == ["evt-0", "evt-1", "evt-2"]
    emitter.refuse = False
    reporter.add(attempt(3))
    await reporter.flush()
    [sent] = emitter.published
    assert [r.event_id for r in sent.records] == ["evt-0", "evt-1", "evt-2", "evt-3"]


async def test_every_record_is_one_the_contract_takes_long_texts_cut() -> None:
    reporter, _, broker = reporter_on()
    reporter.add(attempt(1, status_code=99, attempt=0, duration_ms=-1.0, event_id=""))
    reporter.add(attempt(2, excerpt="x" * 5000, event_id="e" * 300, rung="r" * 300))
    await reporter.flush()
    [sent] = batches(broker)  # validated again as health reads it
    odd, long = sent.records
    assert (odd.status_code, odd.attempt, odd.duration_ms, odd.event_id) == (None, 1, 0.0, "-")
    assert (len(long.excerpt or ""), len(long.event_id), len(long.rung or "")) == (500, 100, 200)
    assert long.at == AT


def test_a_capacity_below_one_batch_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError):
        AttemptsSettings(report_capacity=MAX_RECORDS - 1)


def test_a_request_excerpt_is_bounded_text_whatever_the_body() -> None:
    assert request_excerpt(b'{"id":"e","data":{"a":1},"x":2}') == '"data":{"a":1},"x":2}'
    assert request_excerpt(b"\xff\xfe" + "é".encode() * 1000) == "\ufffd\ufffd" + "é" * 298
    assert len(request_excerpt(b'"data":' + b"x" * 5000)) == REQUEST_CHARS
