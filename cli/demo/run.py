"""Runs the demo: services (started if none answer), stand-ins, two orders, one CRM outage,
then a cancellation (a refund), an analytics event and a scheduled email."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TextIO

import orjson
from aio_pika.abc import AbstractConnection

from cli.common import open_connection
from cli.demo.mailbox import follow
from cli.demo.observer import Observer
from cli.demo.running import START_OWN, DemoError, ladder_text, running_topology
from cli.demo.script import (
    SCHEDULE_AHEAD_SECONDS,
    Narrator,
    Order,
    feedback_email,
    new_order_id,
    order_cancelled,
    order_cancelled_tracked,
    order_paid,
    stop,
)
from cli.demo.standins import (
    ANALYTICS_PORT,
    CRM_PORT,
    PARTNER_PORT,
    PAYMENTS_PORT,
    WAREHOUSE_PORT,
    StandIns,
    standins_served,
)
from cli.local import local_gateway
from contracts.envelope import utc_now
from services.publisher.signing import signature_headers
from services.yard import SERVICES, service_urls
from shared.broker import publish_channel, redacted_url
from shared.config import IntegrationsFile
from shared.errors import EventyardError
from shared.metrics import Metrics
from shared.publishing import Confirmer, Emitter
from shared.redact import Redactor
from shared.settings import Settings
from shared.topology import Topology, declare

DEMO_DIR = Path(__file__).parent
DEMO_CONFIG = DEMO_DIR / "eventyard.demo.toml"
DEMO_ENV = DEMO_DIR / "demo.env"
CRM_FAILURES_BEFORE_RECOVERY = 2


def demo_environment() -> dict[str, str]:
    """The demo's secrets and short ladder (from demo.env), under whatever is already set."""
    values = {}
    for line in DEMO_ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return {**values, **{k: v for k, v in os.environ.items() if k in values}}


class Demo:
    """The whole run; `run()` returns the exit code."""

    def __init__(
        self,
        settings: Settings,
        integrations: IntegrationsFile,
        topology: Topology,
        *,
        base_port: int,
        start: bool,
        out: TextIO,
        record: Path | None,
    ) -> None:
        self._settings = settings
        self._integrations = integrations
        self._topology = topology
        self._base_port = base_port
        self._start = start
        self._started_own = False
        self._out = out
        self._record = record
        env = demo_environment()
        self._shop_secret = env["DEMO_SHOP_SECRET"]
        self.standins = StandIns(partner_secret=env["DEMO_PARTNER_SECRET"])
        self.narrator = Narrator(out, topology, self.standins)
        self.standins.feed = self.narrator.feed
        self._urls = service_urls(base_port=base_port)
        self._gateway = local_gateway(self._urls, timeout=5, redactor=Redactor([self._shop_secret]))
        self._connection: AbstractConnection

    async def run(self) -> int:
        """Everything, in order; the services the demo started are stopped at the end."""
        say = self.narrator.say
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._gateway.aclose)
            connection = await open_connection(self._settings, "eventyard-demo")
            stack.push_async_callback(connection.close)
            self._connection = connection
            if await self._all_ready():
                self._topology = await running_topology(
                    self._gateway,
                    connection,
                    own=self._topology,
                    integrations=self._integrations,
                    services=f"the services at {self._urls['intake']}",
                    broker=redacted_url(self._settings),
                )
                say(
                    f"using the services already running at {self._urls['intake']}; "
                    f"their retry ladder: {ladder_text(self._topology)}"
                )
            elif not self._start:
                raise DemoError(
                    f"no services answer at {self._urls['intake']}: run `eventyard demo` "
                    "without --no-start, which starts them with the demo's integrations file"
                )
            else:
                say("no services answer; starting all five with the demo's integrations file")
                async with await connection.channel() as channel:  # a refusal shows at once
                    await declare(channel, self._topology)
                await stack.enter_async_context(self._services())
            await stack.enter_async_context(standins_served(self.standins))
            say(
                f"stand-ins up: partner :{PARTNER_PORT} (verifies signatures), CRM :{CRM_PORT}, "
                f"warehouse :{WAREHOUSE_PORT}, payments :{PAYMENTS_PORT}, analytics "
                f":{ANALYTICS_PORT}; mail goes to the console provider"
            )
            watched = await Observer(connection, self._topology, self.narrator.feed).start()
            if not watched:
                say("none of the retry ladder's exchanges exist here: retries go unnarrated", "!")
            mail_path = self._integrations.email.console_path
            if mail_path is not None:
                follower = asyncio.create_task(follow(mail_path, self.narrator.feed))
                stack.push_async_callback(stop, follower)
            code = await self._story()
            self._write_record()
            return code

    async def _story(self) -> int:
        say = self.narrator.say
        first = await self._send("cus_1042", "Ada Lovelace", "London")
        if not await self.narrator.until(
            lambda: {"crm", "warehouse", "mail", "partner"} <= first.seen, within=30
        ):
            return self._missing(first, {"crm", "warehouse", "mail", "partner"})
        say("order 1 went through every step. Now the CRM goes down.", "★")
        self.standins.crm_down = True
        second = await self._send("cus_2077", "Grace Hopper", "Arlington")
        ladder = sum(self._topology.delays[: CRM_FAILURES_BEFORE_RECOVERY + 1])
        if not await self.narrator.until(
            lambda: (
                {"warehouse", "mail"} <= second.seen
                and self._crm_failures(second) >= CRM_FAILURES_BEFORE_RECOVERY
            ),
            within=30 + ladder,
        ):
            return self._missing(second, {"warehouse", "mail", "crm_failed"})
        say("email and warehouse finished without waiting for the CRM. The CRM comes back.", "★")
        self.standins.crm_down = False
        if not await self.narrator.until(
            lambda: {"crm", "crm_synced"} <= second.seen, within=30 + ladder
        ):
            return self._missing(second, {"crm", "crm_synced"})
        await self.narrator.until(lambda: False, within=1.0)  # let late facts print
        say(
            "the CRM step completed from the retry ladder: both orders reached the CRM, the "
            "warehouse and the mailbox.",
            "★",
        )
        if not await self._after_sales(first):
            return self._missing(first, {"refunded", "analytics", "scheduled_mail"})
        await self.narrator.until(lambda: False, within=0.5)
        say("refunded once, tracked once, and the scheduled email went out on time.", "★")
        self._next_steps(second)
        return 0

    def _crm_failures(self, order: Order) -> int:
        return sum(
            1
            for hit in self.standins.hits
            if hit.standin == "crm"
            and hit.status != 200
            and isinstance(hit.body, dict)
            and hit.body["order"]["order_id"] == order.order_id
        )

    async def _send(self, customer_id: str, name: str, city: str) -> Order:
        order = Order(new_order_id())
        self.narrator.orders[order.order_id] = order
        body = order_paid(order.order_id, customer_id, name, city)
        order.event_id = await self._webhook("order.paid", order.order_id, body)
        return order

    async def _after_sales(self, order: Order) -> bool:
        """Order 1 is cancelled (a refund), the site reports it (analytics), and a follow-up
        email is scheduled a few seconds ahead; True once all three are seen through."""
        say = self.narrator.say
        say(f"the customer cancels {order.order_id}.", "★")
        cancelled = order_cancelled(order.order_id)
        await self._webhook("order.cancelled", f"{order.order_id}_cancelled", cancelled)
        emitter = Emitter(
            Confirmer(await publish_channel(self._connection), timeout=5),
            source="/demo/shop",
            metrics=Metrics("demo"),
        )
        await emitter.publish(order_cancelled_tracked(order.order_id))
        say("the shop's site publishes analytics.tracked.v1 'Order Cancelled' (fire-and-forget)",
            "→")  # fmt: skip
        send_at = utc_now() + timedelta(seconds=SCHEDULE_AHEAD_SECONDS)
        self.narrator.scheduled_for = send_at
        await emitter.publish(feedback_email(order.order_id, send_at))
        say(
            f"the shop asks for a feedback email to be sent at {send_at:%H:%M:%S} "
            "(email.requested.v1 with send_at): it waits in the broker, not in memory",
            "→",
        )
        wanted = {"refunded", "analytics", "scheduled_mail"}
        return await self.narrator.until(
            lambda: wanted <= order.seen, within=30 + SCHEDULE_AHEAD_SECONDS
        )

    async def _webhook(self, kind: str, reference: str, body: bytes) -> str | None:
        webhook_id = f"msg_{reference}"
        headers = signature_headers([self._shop_secret], webhook_id, int(time.time()), body)
        self.narrator.say(
            f"the shop sends a signed {kind} webhook (webhook-id {webhook_id}) to "
            "POST /webhooks/shop",
            "→",
        )
        try:
            answer = await self._gateway.request(
                "intake",
                "POST",
                "/webhooks/shop",
                content=body,
                headers={**headers, "content-type": "application/json"},
            )
        except EventyardError as error:
            if self._started_own:
                raise DemoError(f"intake refused the demo's {kind}: {error}") from error
            raise DemoError(
                f"intake at {self._urls['intake']} refused the demo's {kind} ({error}): the "
                f"services there run another integrations file than the demo's; {START_OWN}"
            ) from error
        event_id = answer.json().get("event_id")
        contract = self._integrations.sources["shop"].map.get(kind, "?")
        self.narrator.say(
            f"intake stored it and answered {answer.status_code}: event {event_id} ({contract})",
            "✓",
        )
        return str(event_id) if event_id else None

    def _missing(self, order: Order, wanted: set[str]) -> int:
        self.narrator.say(
            f"gave up waiting for {order.order_id}: never saw "
            f"{', '.join(sorted(wanted - order.seen))}",
            "✗",
        )
        self._write_record()
        return 1

    def _next_steps(self, story: Order) -> None:
        self._out.write(
            f"\nThe story of order 2 ({story.order_id}), every delivery attempt on record:\n"
            f"  eventyard attempts {story.event_id}\n"
            f"  {self._urls['health']}/console/messages?event_id={story.event_id}\n"
            f"The console (while the services run): {self._urls['health']}/console\n"
            "\nTry next (with the services running: `make run` in another terminal):\n"
            "  eventyard status            # live queues, rates, parked messages, breakers\n"
            "  eventyard parked list       # what could not be delivered, and why\n"
            "  eventyard integrations      # every connection, why it exists, its health\n"
            f"  curl {self._urls['order-followup']}/metrics\n"
            f"  curl {self._urls['health']}/health\n"
        )

    async def _all_ready(self) -> bool:
        for name in SERVICES:
            try:
                await self._gateway.request(name, "GET", "/readyz")
            except EventyardError:
                return False
        return True

    @asynccontextmanager
    async def _services(self) -> AsyncIterator[None]:
        env = {**os.environ, **demo_environment(), "EVENTYARD_CONFIG": str(DEMO_CONFIG)}
        with tempfile.TemporaryFile() as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-P",  # as `run all` does: a `cli/` in the current directory is not ours
                "-m",
                "cli.main",
                "run",
                "all",
                "--base-port",
                str(self._base_port),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
            try:
                deadline = time.monotonic() + 60
                while not await self._all_ready():
                    if process.returncode is not None or time.monotonic() > deadline:
                        raise DemoError(f"the services did not start: {first_complaint(log)}")
                    await asyncio.sleep(0.3)
                self._started_own = True
                self.narrator.say("all five services are ready", "✓")
                yield
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(process.wait(), 45)
                    except TimeoutError:
                        process.kill()
                        await process.wait()
                self.narrator.say("stopped the services the demo started")

    def _write_record(self) -> None:
        if self._record is None:
            return
        record: dict[str, Any] = {
            "hits": [asdict(hit) for hit in self.standins.hits],
            "mails": [asdict(mail) for mail in self.narrator.mails],
            "orders": {k: sorted(v.seen) for k, v in self.narrator.orders.items()},
        }
        self._record.write_bytes(orjson.dumps(record, default=str, option=orjson.OPT_INDENT_2))


def first_complaint(log: IO[bytes]) -> str:
    """The first `eventyard: …` line the services printed, or where to look when there is none."""
    log.seek(0)
    for line in log.read().decode("utf-8", "replace").splitlines():
        if line.startswith("eventyard: "):
            return line.removeprefix("eventyard: ")
    return "try `make run` to see why"
