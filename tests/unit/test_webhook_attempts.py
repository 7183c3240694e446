"""Each inbound webhook is told to the attempts log: what it became (accepted, duplicate), or
why it was refused (not verified, too large), with the status intake answered."""

from __future__ import annotations

from typing import cast

import orjson

from shared.attempts.reporter import AttemptReporter
from shared.metrics import Metrics
from shared.publishing import Emitter
from tests.support import signing
from tests.unit.test_intake_fuzz import SECRET, RecordingRouter, app_for, post


def test_accepted_duplicate_and_refused_webhooks_are_on_record() -> None:
    router = RecordingRouter()
    reporter = AttemptReporter("intake", cast(Emitter, None), Metrics("intake"))
    app = app_for(router, reporter=reporter)
    body = orjson.dumps({"type": "order.created", "data": {"id": "ord_1"}})
    signed = signing.standard_webhooks(SECRET, body, "msg_1")
    first = post(app, "/webhooks/standard", body, signed)
    again = post(app, "/webhooks/standard", body, signed)
    forged = post(app, "/webhooks/standard", body, {**signed, "webhook-signature": "v1,AAAA"})
    assert (first.status_code, again.status_code, forged.status_code) == (202, 200, 401)
    accepted, duplicate, refused = reporter.waiting
    event_id = first.json()["event_id"]
    assert (accepted.event_id, accepted.outcome, accepted.status_code, accepted.target) == (
        event_id, "accepted", 202, "standard"
    )  # fmt: skip
    assert (accepted.kind, accepted.event_type) == ("webhook", "webhook.received")
    assert (duplicate.event_id, duplicate.outcome, duplicate.status_code) == (
        event_id, "duplicate", 200
    )  # fmt: skip
    assert (refused.outcome, refused.status_code, refused.error_class) == (
        "refused", 401, forged.json()["error"].replace(" ", "_")
    )  # fmt: skip
    assert refused.event_id != event_id
