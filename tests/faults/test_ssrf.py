"""SSRF: destinations at non-global addresses (in every disguise) or redirecting are refused.

The publisher runs as a process. The loopback disguises all name the port of a live local
Receiver, each under its own path, so a guard that let one through would show as a hit there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shared import parking
from tests.faults.report import Report
from tests.faults.world import PARTNER_SECRET, fault_settings
from tests.support.events import connected, emitter_for, queue_depth, sample_order
from tests.support.processes import ServiceProcess, service_environment
from tests.support.receiver import Receiver, serving
from tests.support.toml import write_integrations
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

# destination -> (URL template, the address class the refusal must name)
REFUSED = {
    "short": ("http://127.1:{port}/hook/short", "loopback"),
    "decimal": ("http://2130706433:{port}/hook/decimal", "loopback"),
    "mapped": ("http://[::ffff:127.0.0.1]:{port}/hook/mapped", "loopback"),
    "metadata": ("http://169.254.169.254/latest/meta-data/", "link-local"),
    "cgnat": ("http://100.64.0.1/hook", "non-global"),
    "private": ("http://10.1.2.3/hook", "private"),
}


def destination(url: str, *, allow: bool = False) -> dict[str, Any]:
    """A destination for `order.created.v1`."""
    return {
        "url": url,
        "events": ["order.created.v1"],
        "secrets": ["PARTNER_SECRET"],
        "allow_private_network": allow,
    }


async def test_private_destinations_are_refused_and_parked_with_the_address_class(
    broker_url: str, tmp_path: Path, report: Report
) -> None:
    """Each refused destination parks the delivery: reason "refused", the class in the error.

    Controls: the same loopback address with `allow_private_network = true` is delivered to,
    and a redirect to a private address is not followed (parked as refused, never requested).
    """
    settings = fault_settings(broker_url, tmp_path)
    target, redirector = Receiver(secret=PARTNER_SECRET), Receiver(status=302)
    async with serving(target), serving(redirector):
        port = target.url.split(":")[-1].split("/")[0]
        redirector.headers = {"Location": f"http://127.0.0.1:{port}/internal-admin"}
        destinations = {
            name: destination(url.format(port=port)) for name, (url, _) in REFUSED.items()
        }
        destinations["allowed"] = destination(f"http://127.1:{port}/hook/allowed", allow=True)
        destinations["redirect"] = destination(redirector.url, allow=True)
        write_integrations(settings.config, {"destinations": destinations})
        env = service_environment(settings, PARTNER_SECRET=PARTNER_SECRET)
        publisher = ServiceProcess("publisher", env, tmp_path)
        publisher.start()
        try:
            await publisher.wait_ready()
            async with connected(broker_url) as connection:
                # When an event goes out to every destination
                publisher_api = await emitter_for(connection)
                event_id = (await publisher_api.publish(sample_order("ord_ssrf"))).id
                parked_queues = [f"publisher.dest.{n}.parked" for n in [*REFUSED, "redirect"]]

                async def all_parked() -> bool:
                    depths = [await queue_depth(connection, q) for q in parked_queues]
                    return all(depths) and bool(target.succeeded)

                await eventually(all_parked, timeout=30)
                await asyncio.sleep(0.5)  # anything that slipped through would arrive by now

                # Then each disguise of a non-global address is refused, naming its class
                refused = {}
                for name in [*REFUSED, "redirect"]:
                    queue = f"publisher.dest.{name}.parked"
                    refused[name] = await parking.peek(connection, queue, 5)
                # The event owes one delivery per destination: one made, the rest refused
                owed = len(destinations)
                made = {hit.path for hit in target.succeeded}  # a path per destination
                parked_refused = sum(
                    1 for copies in refused.values() for c in copies if c.reason == "refused"
                )
                report.add(
                    accepted=owed,
                    refused=parked_refused,
                    delivered=len(made),
                    lost=owed - len(made) - parked_refused,
                    note=(
                        f"1 event x {owed} destinations: {len(REFUSED)} refused by address "
                        "class, redirect refused, allow_private_network control delivered"
                    ),
                )
                for name, (_, kind) in REFUSED.items():
                    [parked] = refused[name]
                    assert parked.reason == "refused", (name, parked)
                    assert parked.error_type == "RefusedDestinationError", (name, parked)
                    assert f"{kind} address" in parked.error, (name, parked.error)
                    assert parked.attempts == 1
                    assert parked.message_id == event_id
                # And the redirect was not followed
                [bounced] = refused["redirect"]
                assert bounced.reason == "refused"
                assert "redirect not followed" in bounced.error
                assert len(redirector.hits) == 1
                # And only the allowed destination was called on the live receiver
                assert [hit.path for hit in target.hits] == ["/hook/allowed"]
                assert target.verified
        finally:
            await publisher.stop()
