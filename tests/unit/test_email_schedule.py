"""email.requested.v1's `send_at`: RFC 3339, within 30 days, and its old name still read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.emails import MAX_SCHEDULE_AHEAD, EmailRequestedV1
from contracts.envelope import utc_now

BASE: dict[str, Any] = {"to": "ada@example.com", "subject": "s", "body": "b"}


def test_send_at_is_an_rfc3339_moment_with_an_offset() -> None:
    request = EmailRequestedV1.model_validate({**BASE, "send_at": "2026-11-20T07:00:00+01:00"})
    assert request.scheduled_for is not None
    assert request.scheduled_for.utcoffset() == timedelta(hours=1)
    with pytest.raises(ValidationError, match="timezone"):
        EmailRequestedV1.model_validate({**BASE, "send_at": "2026-11-20T07:00:00"})


def test_a_send_at_beyond_the_limit_is_refused_at_the_contract() -> None:
    near = utc_now() + MAX_SCHEDULE_AHEAD - timedelta(minutes=1)
    assert EmailRequestedV1.model_validate({**BASE, "send_at": near}).scheduled_for == near
    far = utc_now() + MAX_SCHEDULE_AHEAD + timedelta(minutes=1)
    with pytest.raises(ValidationError, match="more than 30 days ahead"):
        EmailRequestedV1.model_validate({**BASE, "send_at": far})
    with pytest.raises(ValidationError, match="more than 30 days ahead"):
        EmailRequestedV1.model_validate({**BASE, "send_after": far})


def test_the_old_name_is_read_and_may_not_disagree() -> None:
    when = utc_now() + timedelta(hours=1)
    old = EmailRequestedV1.model_validate({**BASE, "send_after": when})
    assert old.scheduled_for == when
    both = EmailRequestedV1.model_validate({**BASE, "send_after": when, "send_at": when})
    assert both.scheduled_for == when
    with pytest.raises(ValidationError, match="disagree"):
        EmailRequestedV1.model_validate(
            {**BASE, "send_after": when, "send_at": when + timedelta(seconds=1)}
        )
