"""An OAuth sign-in against intake, with a provider stand-in the test supplies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookies import Morsel, SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aio_pika.abc import AbstractConnection
from starlette.applications import Starlette

from services.intake.app import DEFINITION as INTAKE
from services.intake.app import QUEUE
from services.intake.oauth import NONCE_COOKIE
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import Topology
from tests.support.events import connected
from tests.support.services import free_port, running
from tests.support.yard_http import served

STATE_KEY = "state-signing-key-0123456789"
USERS_QUEUE = "test.users"


def set_cookie(answer: httpx.Response, name: str) -> Morsel[str]:
    """The cookie `name` that the answer sets."""
    for header in answer.headers.get_list("set-cookie"):
        cookie = SimpleCookie(header)
        if name in cookie:
            return cookie[name]
    raise AssertionError(f"no Set-Cookie for {name}")


@dataclass
class SignIn:
    """The browser's side of a sign-in with provider `gh`."""

    base: str
    client: httpx.AsyncClient
    connection: AbstractConnection

    async def start(self) -> tuple[str, str]:
        """Follow `/start`: the state the provider gets, and the nonce cookie it is bound to."""
        answer = await self.client.get(f"{self.base}/oauth/gh/start")
        assert answer.status_code == 302
        state = parse_qs(urlsplit(answer.headers["location"]).query)["state"][0]
        cookie = set_cookie(answer, NONCE_COOKIE)
        assert cookie["httponly"]
        assert cookie["secure"]
        assert cookie["samesite"].lower() == "lax"
        return state, cookie.value

    async def callback(self, state: str, nonce: str, code: str = "good-code") -> httpx.Response:
        """Come back from the provider with a code and the state."""
        return await self.client.get(
            f"{self.base}/oauth/gh/callback",
            params={"code": code, "state": state},
            headers={"cookie": f"{NONCE_COOKIE}={nonce}"},
        )


def integrations(provider: str) -> IntegrationsFile:
    """One OAuth provider, `gh`, whose token and userinfo URLs are on `provider`."""
    return IntegrationsFile.model_validate(
        {
            "oauth": {
                "gh": {
                    "authorize_url": "https://github.example/login/oauth/authorize",
                    "token_url": f"{provider}/token",
                    "userinfo_url": f"{provider}/user",
                    "client_id": "Iv1.test",
                    "client_secret": "GH_CLIENT_SECRET",
                    "state_secret": "OAUTH_STATE_KEY",
                    "redirect_url": "https://app.example/oauth/gh/callback",
                    "success_url": "https://app.example/welcome",
                    "error_url": "https://app.example/signin-failed",
                    "allow_private_network": True,
                }
            }
        }
    )


@asynccontextmanager
async def signing_in(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, provider: Starlette
) -> AsyncIterator[SignIn]:
    """intake with provider `gh` served by `provider`; sign-ins are captured on USERS_QUEUE."""
    monkeypatch.setenv("GH_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("OAUTH_STATE_KEY", STATE_KEY)
    port = free_port()
    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    async with (
        served(provider, port),
        running(INTAKE, settings, topology, integrations(f"http://127.0.0.1:{port}")) as base,
        connected(url) as connection,
        httpx.AsyncClient() as client,
    ):
        channel = await connection.channel()
        capture = await channel.declare_queue(USERS_QUEUE, durable=True)
        await capture.bind("events", "user.authenticated.v1")
        yield SignIn(base, client, connection)
