"""The renderer carries the requested priority through to what the provider sends."""

from __future__ import annotations

import pytest

from contracts.emails import EmailRequestedV1
from services.email.rendering import Priority, Renderer

VARIABLES = {
    "name": "Ada",
    "order_id": "ord_1",
    "total": "17.98 EUR",
    "city": "London",
    "lines": [{"name": "Earl Grey", "quantity": 2}],
}


@pytest.mark.parametrize("priority", ["high", "normal", "low"])
def test_a_template_keeps_its_priority(priority: Priority) -> None:
    request = EmailRequestedV1(
        to="ada@example.com",
        template="order_confirmation",
        variables=VARIABLES,
        priority=priority,
    )
    assert Renderer().render(request).priority == priority


@pytest.mark.parametrize("priority", ["high", "normal", "low"])
def test_a_literal_subject_and_body_keep_their_priority(priority: Priority) -> None:
    request = EmailRequestedV1(to="ops@example.com", subject="s", body="b", priority=priority)
    assert Renderer().render(request).priority == priority


def test_priority_defaults_to_normal() -> None:
    request = EmailRequestedV1(to="ops@example.com", subject="s", body="b")
    assert Renderer().render(request).priority == "normal"
