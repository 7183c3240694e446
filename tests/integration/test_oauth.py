"""OAuth sign-in through intake: signed expiring state bound to a cookie; no token leaks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from unittest.mock import patch
from urllib.parse import parse_qs

import orjson
import pytest
from itsdangerous import URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.intake.oauth import SESSION_COOKIE
from shared.settings import Settings
from tests.support.events import drain
from tests.support.oauth import STATE_KEY, SignIn, set_cookie, signing_in

TOKEN = "gho_16C7e42F292c6912E7710c838347Ae178B4a"


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


@pytest.fixture
async def sign_in(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SignIn]:
    async with signing_in(settings, monkeypatch, fake_provider()) as flow:
        yield flow


async def test_a_good_sign_in_sets_a_session_and_publishes_no_token(sign_in: SignIn) -> None:
    state, nonce = await sign_in.start()
    answer = await sign_in.callback(state, nonce)
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://app.example/welcome"
    session = set_cookie(answer, SESSION_COOKIE)
    assert session["httponly"]
    assert session["secure"]
    assert session["samesite"].lower() == "lax"
    [message] = await drain(sign_in.connection, "test.users")
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
    assert await drain(sign_in.connection, "test.users") == []


async def test_a_refused_code_redirects_with_exchange_failed(sign_in: SignIn) -> None:
    state, nonce = await sign_in.start()
    answer = await sign_in.callback(state, nonce, code="stolen-code")
    assert answer.headers["location"] == "https://app.example/signin-failed?error=exchange_failed"
