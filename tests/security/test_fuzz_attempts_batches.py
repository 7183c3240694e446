"""health's new door: `attempts.recorded.v1` batches off the broker. Whatever a batch holds, the
writer acks it with every row within the log's bounds and its texts redacted, or parks it with
a contract reason; it never raises past the consume path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aio_pika
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.attempts import (
    EXCERPT_CHARS,
    ID_CHARS,
    MAX_RECORDS,
    NAME_CHARS,
    REQUEST_CHARS,
    AttemptsRecordedV1,
)
from services.health.attempts import QUEUE, record_attempts
from shared.attempts.model import Attempt
from shared.redact import Redactor
from shared.testing import HandlerKit

SECRET = "sk_live_fuzzed_secret_value"
BOUNDS = {"event_id": ID_CHARS, "event_type": NAME_CHARS, "target": NAME_CHARS,
          "error_class": NAME_CHARS, "rung": NAME_CHARS, "excerpt": EXCERPT_CHARS,
          "request": REQUEST_CHARS}  # fmt: skip


class Rows:
    """A store that keeps what it is asked to write."""

    def __init__(self) -> None:
        self.rows: list[Attempt] = []

    async def record(self, rows: Sequence[Attempt]) -> None:
        self.rows.extend(rows)


texts = st.one_of(st.text(max_size=600), st.just(f"token {SECRET} here"), st.none())
records = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=120),
        "event_type": st.text(max_size=50),
        "kind": st.sampled_from(["webhook", "drop", "delivery", "email", "command", "other"]),
        "target": st.text(min_size=1, max_size=50),
        "attempt": st.integers(min_value=-2, max_value=2_000_000),
        "at": st.sampled_from(["2026-12-03T10:00:00Z", "2026-12-03T10:00:00", "yesterday"]),
        "outcome": st.text(min_size=1, max_size=25),
    },
    optional={
        "duration_ms": st.one_of(st.floats(allow_nan=False), st.none()),
        "status_code": st.one_of(st.integers(min_value=0, max_value=1000), st.none()),
        "error_class": texts,
        "rung": texts,
        "excerpt": texts,
        "request": texts,
        "extra": st.integers(),
    },
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)  # fmt: skip
data = st.one_of(
    st.fixed_dictionaries(
        {"service": st.text(max_size=30), "records": st.lists(records, max_size=8)}
    ),
    json_values,
)


def batch_message(payload: Any) -> aio_pika.Message:
    envelope = {
        "specversion": "1.0", "id": "batch-1", "source": "eventyard/publisher",
        "type": AttemptsRecordedV1.TYPE, "time": "2026-12-03T10:00:00Z",
        "datacontenttype": "application/json", "dataschema": AttemptsRecordedV1.dataschema(),
        "data": payload,
    }  # fmt: skip
    return aio_pika.Message(
        # stdlib json: it writes integers of any size, as a hostile producer may
        json.dumps(envelope).encode(),
        content_type="application/json",
        type="attempts.recorded.v1",
    )


def outcome_of(payload: Any) -> tuple[str, str | None, list[Attempt]]:
    rows = Rows()
    handler = record_attempts(rows, Redactor([SECRET]))
    kit = HandlerKit(service="health")
    result = asyncio.run(
        kit.run(handler, batch_message(payload), queue=QUEUE.name,
                accepts=(AttemptsRecordedV1,), reported=None)
    )  # fmt: skip
    return result.outcome, result.reason, rows.rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=data)
def test_any_batch_is_written_within_bounds_or_parked_with_a_contract_reason(payload: Any) -> None:
    outcome, reason, rows = outcome_of(payload)
    assert outcome in {"acked", "parked"}
    if outcome == "parked":
        assert reason == "contract"
        assert rows == []
        return
    for row in rows:
        for name, bound in BOUNDS.items():
            value = getattr(row, name)
            assert value is None or len(value) <= bound
            assert SECRET not in (value or "")
        assert row.attempt >= 1
        assert row.at.tzinfo is not None


def test_a_batch_over_the_record_limit_is_parked() -> None:
    record = {"event_id": "e", "event_type": "t", "kind": "delivery", "target": "p",
              "attempt": 1, "at": "2026-12-03T10:00:00Z", "outcome": "succeeded"}  # fmt: skip
    outcome, reason, rows = outcome_of({"service": "publisher",
                                        "records": [record] * (MAX_RECORDS + 1)})  # fmt: skip
    assert (outcome, reason, rows) == ("parked", "contract", [])
