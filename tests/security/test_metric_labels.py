"""Metric labels stay bounded whatever a producer sends: no door adds series on demand."""

from __future__ import annotations

import base64

from shared.metrics import Metrics

SHOP = "whsec_" + base64.b64encode(b"shop-secret-0123456789").decode()
CONFIG = {"sources": {"shop": {"scheme": "standard-webhooks", "secrets": ["SHOP_SECRET"]}}}
DROPS = 40


def test_the_event_type_label_has_a_ceiling() -> None:
    metrics = Metrics("tests")
    for n in range(1000):
        metrics.count_published(f"webhook.received.s{n}.v1")
        metrics.count_unrouted(f"webhook.received.s{n}.v1")
    exposition = "\n".join(
        f"{s.name} {s.labels}"
        for family in metrics.registry.collect()
        for s in family.samples
        if "event_type" in s.labels
    )
    published = {s for s in exposition.splitlines() if s.startswith("eventyard_messages_pub")}
    unrouted = {s for s in exposition.splitlines() if s.startswith("eventyard_messages_unr")}
    # Counters export _total and _created per series: at most 100 types and `other` each.
    assert len(published) <= 2 * 101
    assert len(unrouted) <= 2 * 101
    assert "'other'" in exposition
