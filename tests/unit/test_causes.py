"""A failure's cause: ids and numbers folded, the HTTP status kept apart, one stable id."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.causes import cause_of, fold


def test_ids_and_numbers_fold_and_the_status_is_kept() -> None:
    error = 'HttpTransientError: crm: POST /orders/sync returned 503: {"id":"crm-13"}'
    cause = cause_of("order-followup.crm", "exhausted", "HttpTransientError", error)
    assert cause.status == 503
    assert cause.pattern == 'crm: POST /orders/sync returned <n>: {"id":"<id>"}'
    assert fold(f"event {uuid.uuid4()} for ord_7Hq2LmX9 took 1.25 s") == (
        "event <id> for <id> took <n> s"
    )
    assert fold("token deadbeefdeadbeefdeadbeef expired") == "token <id> expired"
    assert fold("the loyalty API refused the customer") == "the loyalty API refused the customer"


def test_only_the_first_line_counts_and_it_is_bounded() -> None:
    cause = cause_of("q", "permanent", "ValueError", "ValueError: bad order\n  at line 7\n")
    assert (cause.pattern, cause.status) == ("bad order", None)
    assert len(cause_of("q", "permanent", "E", "x" * 5000).pattern) == 200
    assert cause_of("q", "permanent", "E", "").pattern == ""


def test_the_id_is_stable_and_says_queue_reason_class_and_status_apart() -> None:
    base = cause_of("q", "permanent", "HttpPermanentError", "crm: returned 422: order ord_1x")
    assert base.id == cause_of("q", "permanent", "HttpPermanentError",
                               "crm: returned 422: order ord_99y").id  # fmt: skip
    assert len(base.id) == 10
    others = {
        cause_of("r", "permanent", "HttpPermanentError", "crm: returned 422: order ord_1x").id,
        cause_of("q", "exhausted", "HttpPermanentError", "crm: returned 422: order ord_1x").id,
        cause_of("q", "permanent", "HttpTransientError", "crm: returned 422: order ord_1x").id,
        cause_of("q", "permanent", "HttpPermanentError", "crm: returned 409: order ord_1x").id,
    }
    assert base.id not in others
    assert len(others) == 4


# One system writes its ids one way: uuids, prefixed tokens, or plain numbers.
ID_KINDS = [
    st.uuids().map(str),
    st.from_regex(r"[a-z]{2,4}_[A-Za-z]{0,4}[0-9][A-Za-z0-9]{0,8}", fullmatch=True),
    st.integers(min_value=0, max_value=10**12).map(str),
]


@given(data=st.data(), kind=st.sampled_from(ID_KINDS), number=st.integers(0, 10**9))
def test_any_ids_and_numbers_give_one_cause(
    data: st.DataObject, kind: st.SearchStrategy[str], number: int
) -> None:
    def error(an_id: str, n: int) -> str:
        return f"warehouse: shipment {an_id} refused after {n} tries"

    first, second = data.draw(kind), data.draw(kind)
    one = cause_of("q", "permanent", "E", error(first, number))
    assert one == cause_of("q", "permanent", "E", error(second, number + 1))
    assert one.pattern in (
        "warehouse: shipment <id> refused after <n> tries",
        "warehouse: shipment <n> refused after <n> tries",
    )
