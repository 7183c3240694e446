"""The console's two actions on a failure group: replay it, or purge it.

Each is a confirmation page (GET) and a form (POST) that must carry the console token
(`EVENTYARD_CONSOLE__TOKEN`, compared in constant time) and a CSRF token signed with it for
this action on this group, at most `csrf_max_age_seconds` old, and acted on once: a result page
reloaded (the form sent again) does not replay what was parked since. Without a token configured the
console stays read-only. The body is read within 4 KiB; every refusal is a 4xx page.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import aiormq
import itsdangerous
from aio_pika.abc import AbstractConnection
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shared.broker import publish_channel
from shared.errors import PublishError
from shared.parked_groups import Group, scan
from shared.parking import replay
from shared.publishing import Confirmer
from shared.request_body import BodyBudget, BodyTooLargeError, BudgetExhaustedError, read_limited
from shared.settings import ConsoleSettings
from shared.topology import Topology

ACTIONS = ("replay", "purge")
MAX_FORM_BYTES = 4096
MAX_SPENT = 10_000  # CSRF tokens remembered as used until they expire; beyond, the oldest go
CSRF_SALT = "eventyard-console-action"
BROKER_DOWN = (OSError, TimeoutError, aiormq.exceptions.AMQPError, PublishError)
Connect = Callable[[], Awaitable[AbstractConnection]]
Render = Callable[..., HTMLResponse]


class GroupActions:
    """GET and POST `/console/failures/{group}/{replay|purge}`."""

    def __init__(
        self,
        settings: ConsoleSettings,
        topology: Topology,
        connect: Connect,
        render: Render,
        publish_timeout: float,
        *,
        acted: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._topology = topology
        self._connect = connect
        self._render = render
        self._publish_timeout = publish_timeout
        self._acted = acted
        self._budget = BodyBudget(64 * MAX_FORM_BYTES)
        self._spent: dict[str, float] = {}  # CSRF token -> when it expires (monotonic)
        token = settings.token
        self._token = token.get_secret_value().encode() if token is not None else None
        self._signer = itsdangerous.URLSafeTimedSerializer(
            token.get_secret_value() if token is not None else "-", salt=CSRF_SALT
        )

    def routes(self) -> list[Route]:
        """The confirmation page and the form's target, on one path."""
        path = "/console/failures/{group:str}/{action:str}"
        return [Route(path, self.confirm, methods=["GET"]), Route(path, self.act, methods=["POST"])]

    async def confirm(self, request: Request) -> Response:
        """What the action would touch, and the form that does it."""
        group_id, action = request.path_params["group"], request.path_params["action"]
        refused = self._refusal(action)
        if refused is not None:
            return refused
        try:
            found = await self._find(group_id)
        except BROKER_DOWN:
            return self._page(503, "the broker cannot be reached now; try again")
        if found is None:
            return self._page(404, "no parked message is in this group (any more)")
        csrf = self._signer.dumps([action, group_id])
        return self._page(200, "", group=found[1], csrf=csrf, action=action,
                          title=f"{action} this group?")  # fmt: skip

    async def act(self, request: Request) -> Response:
        """Check the form, then replay or purge the group."""
        group_id, action = request.path_params["group"], request.path_params["action"]
        refused = self._refusal(action) or await self._bad_form(request, action, group_id)
        if refused is not None:
            return refused
        try:
            connection = await self._connect()
        except BROKER_DOWN:
            return self._page(503, "the broker cannot be reached now; nothing was done")
        try:
            found = await self._find(group_id, connection)
            if found is None:
                return self._page(404, "no parked message is in this group (any more)")
            parked, group = found
            if action == "replay":
                channel = await publish_channel(connection)
                moved = await replay(
                    connection,
                    Confirmer(channel, timeout=self._publish_timeout),
                    parked,
                    group=group_id,
                )
                message = f"replayed {moved.replayed} of {moved.scanned} scanned from {parked}"
            else:
                purged = await scan(connection, parked, purge_group=group_id)
                message = f"purged {purged.purged} of {purged.scanned} scanned from {parked}"
        except BROKER_DOWN:
            # What was moved is confirmed; what was not acked stays parked.
            return self._page(503, "the broker failed during the action; see what is left")
        finally:
            # Messages may have moved, even on a failure: the overview's counts (health's
            # last round) are out of date until the next round, which this asks for now.
            self._acted()
            await connection.close()
        return self._page(200, message, group=group, title=f"{action}: done")

    def _refusal(self, action: str) -> HTMLResponse | None:
        if action not in ACTIONS:
            return self._page(404, f"no action {action[:20]!r}; there are {', '.join(ACTIONS)}")
        if self._token is None:
            return self._page(403, "the console is read-only: set EVENTYARD_CONSOLE__TOKEN to act")
        return None

    async def _bad_form(self, request: Request, action: str, group: str) -> HTMLResponse | None:
        try:
            with self._budget.hold() as hold:
                body = await read_limited(request, MAX_FORM_BYTES, hold)
        except BodyTooLargeError:
            return self._page(413, "the form is larger than a console form can be")
        except BudgetExhaustedError:
            return self._page(503, "too many forms at once; try again")
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
        given_token, given_csrf = _field(form, "token"), _field(form, "csrf")
        if given_csrf is None or not self._signed_for(given_csrf, action, group):
            return self._page(403, "the form is not one this console gave for this action (CSRF)")
        token = self._token or b""
        if given_token is None or not hmac.compare_digest(given_token.encode(), token):
            return self._page(403, "the console token is not right")
        if not self._spend(given_csrf):
            return self._page(
                409, "this form was sent already; open the group again to act on it again"
            )
        return None

    def _spend(self, csrf: str) -> bool:
        """Mark a CSRF token used; False if it was (one action per confirmation page)."""
        now = time.monotonic()
        if len(self._spent) >= MAX_SPENT:
            self._spent = {t: until for t, until in self._spent.items() if until > now}
            while len(self._spent) >= MAX_SPENT:  # all still valid: forget the oldest
                del self._spent[next(iter(self._spent))]
        if self._spent.get(csrf, 0.0) > now:
            return False
        self._spent[csrf] = now + self._settings.csrf_max_age_seconds
        return True

    def _signed_for(self, given: str, action: str, group: str) -> bool:
        try:
            signed = self._signer.loads(given, max_age=self._settings.csrf_max_age_seconds)
        except itsdangerous.BadData:
            return False
        return bool(signed == [action, group])

    async def _find(
        self, group_id: str, connection: AbstractConnection | None = None
    ) -> tuple[str, Group] | None:
        own = connection is None
        connection = connection or await self._connect()
        try:
            for queue in self._topology.queues:
                try:
                    found = await scan(connection, queue.parked)
                except aiormq.exceptions.ChannelNotFoundEntity:
                    continue  # not declared yet: nothing parked there
                if group_id in found.groups:
                    return queue.parked, found.groups[group_id]
            return None
        finally:
            if own:
                await connection.close()

    def _page(self, status: int, message: str, **values: Any) -> HTMLResponse:
        values.setdefault("group", None)
        values.setdefault("csrf", None)
        values.setdefault("action", "")
        title = values.pop("title", "failure group")
        return self._render(
            "console_action.html", title, status_code=status, message=message, **values
        )


def _field(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values and len(values) == 1 else None
