"""OAuth sign-in through intake: signed expiring state bound to a cookie; no token leaks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import Morsel, SimpleCookie
from unittest.mock import patch
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from itsdangerous import URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.intake.app import DEFINITION as INTAKE
from services.intake.app import QUEUE
from services.intake.oauth import NONCE_COOKIE, SESSION_COOKIE
from shared.config import IntegrationsFile
from shared.settings import Settings
from shared.topology import Topology
from tests.support.events import connected, drain
from tests.support.services import free_port, running
from tests.support.yard_http import served

TOKEN = "gho_16C7e42F292c6912E7710c838347Ae178B4a"
STATE_KEY = "state-signing-key-0123456789"


def fake_provider() -> Starlette:
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        if form.get("code") != ["good-code"] or form.get("client_secret") != ["client-secret"]:
            return JSONResponse({"error": "bad_verification_code"}, status_code=400)
        return JSONResponse({"access_token": TOKEN, "token_type": "bearer"})

    async def user(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse(
            {"id": 583231, "login": "ada", "email": "ada@example.com", "name": "Ada Lovelace"}
        )

    return Starlette(
        routes=[Route("/token", token, methods=["POST"]), Route("/user", user, methods=["GET"])]
    )


def set_cookie(answer: httpx.Response, name: str) -> Morsel[str]:
    for header in answer.headers.get_list("set-cookie"):
        cookie = SimpleCookie(header)
        if name in cookie:
            return cookie[name]
    raise AssertionError(f"no Set-Cookie for {name}")


@dataclass
class SignIn:
    base: str
    client: httpx.AsyncClient
    connection: object

    async def start(self) -> tuple[str, str]:
        answer = await self.client.get(f"{self.base}/oauth/gh/start")
        assert answer.status_code == 302
        state = parse_qs(urlsplit(answer.headers["location"]).query)["state"][0]
        cookie = set_cookie(answer, NONCE_COOKIE)
        assert cookie["httponly"]
        assert cookie["secure"]
        assert cookie["samesite"].lower() == "lax"
        return state, cookie.value

    async def callback(self, state: str, nonce: str, code: str = "good-code") -> httpx.Response:
        return await self.client.get(
            f"{self.base}/oauth/gh/callback",
            params={"code": code, "state": state},
            headers={"cookie": f"{NONCE_COOKIE}={nonce}"},
        )


@pytest.fixture
async def sign_in(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SignIn]:
    monkeypatch.setenv("GH_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("OAUTH_STATE_KEY", STATE_KEY)
    port = free_port()
    provider = f"http://127.0.0.1:{port}"
    integrations = IntegrationsFile.model_validate(
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
    topology = Topology((QUEUE,), tuple(settings.retry.delays), settings.retry.delivery_limit)
    url = settings.broker_url.get_secret_value()
    async with (
        served(fake_provider(), port),
        running(INTAKE, settings, topology, integrations) as base,
        connected(url) as connection,
        httpx.AsyncClient() as client,
    ):
        channel = await connection.channel()
        capture = await channel.declare_queue("test.users", durable=True)
        await capture.bind("events", "user.authenticated.v1")
        yield SignIn(base, client, connection)


async def test_a_good_sign_in_sets_a_session_and_publishes_no_token(sign_in: SignIn) -> None:
    state, nonce = await sign_in.start()
    answer = await sign_in.callback(state, nonce)
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://app.example/welcome"
    session = set_cookie(answer, SESSION_COOKIE)
    assert session["httponly"]
    assert session["secure"]
    assert session["samesite"].lower() == "lax"
    [message] = await drain(sign_in.connection, "test.users")  # type: ignore[arg-type]
    event = orjson.loads(message.body)
    assert event["type"] == "user.authenticated"
    assert event["data"]["provider_user_id"] == "583231"
    assert event["data"]["email"] == "ada@example.com"
    assert TOKEN not in message.body.decode()
    assert TOKEN not in str(message.headers)


@pytest.mark.parametrize("case", ["tampered", "wrong_cookie", "no_cookie", "expired", "other"])
async def test_a_bad_state_redirects_with_invalid_state(sign_in: SignIn, case: str) -> None:
    state, nonce = await sign_in.start()
    if case == "tampered":
        state = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    elif case == "wrong_cookie":
        nonce = "somebody-elses-nonce"
    elif case == "no_cookie":
        nonce = ""
    elif case == "expired":
        an_hour_ago = time.time() - 3600
        with patch("itsdangerous.timed.time.time", return_value=an_hour_ago):
            old = URLSafeTimedSerializer(STATE_KEY, salt="eventyard-oauth-state-gh")
            state = old.dumps({"p": "gh", "n": nonce})
    elif case == "other":
        state = URLSafeTimedSerializer("another-key", salt="eventyard-oauth-state-gh").dumps(
            {"p": "gh", "n": nonce}
        )
    answer = await sign_in.callback(state, nonce)
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://app.example/signin-failed?error=invalid_state"
    assert await drain(sign_in.connection, "test.users") == []  # type: ignore[arg-type]


async def test_a_refused_code_redirects_with_exchange_failed(sign_in: SignIn) -> None:
    state, nonce = await sign_in.start()
    answer = await sign_in.callback(state, nonce, code="stolen-code")
    assert answer.headers["location"] == "https://app.example/signin-failed?error=exchange_failed"
