"""OAuth: a state is used once, and no userinfo answer can turn a sign-in into a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.intake.oauth import NONCE_COOKIE
from shared.settings import Settings
from tests.support.events import drain
from tests.support.oauth import USERS_QUEUE, SignIn, set_cookie, signing_in

FAILED = "https://app.example/signin-failed?error="


@dataclass
class Provider:
    """A provider stand-in whose userinfo answer each test sets."""

    userinfo: bytes = b'{"id": 583231, "login": "ada", "email": "ada@example.com"}'
    exchanges: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def token(request: Request) -> Response:
            self.exchanges.append((await request.body()).decode())
            return JSONResponse({"access_token": "gho_token", "token_type": "bearer"})

        async def user(_: Request) -> Response:
            return Response(self.userinfo, media_type="application/json")

        return Starlette(
            routes=[
                Route("/token", token, methods=["POST"]),
                Route("/user", user, methods=["GET"]),
            ]
        )


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
async def sign_in(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, provider: Provider
) -> AsyncIterator[SignIn]:
    async with signing_in(settings, monkeypatch, provider.app()) as flow:
        yield flow


async def test_a_replayed_callback_is_refused(sign_in: SignIn, provider: Provider) -> None:
    state, nonce = await sign_in.start()
    first = await sign_in.callback(state, nonce)
    # The browser's cookie is cleared by the first callback...
    assert set_cookie(first, NONCE_COOKIE).value == ""
    # ...and one who kept it (or captured the whole callback) cannot use the state again
    replayed = await sign_in.callback(state, nonce)
    assert first.headers["location"] == "https://app.example/welcome"
    assert replayed.status_code == 302
    assert replayed.headers["location"] == FAILED + "invalid_state"
    assert len(provider.exchanges) == 1
    assert len(await drain(sign_in.connection, USERS_QUEUE)) == 1


async def test_a_state_is_spent_even_when_its_first_use_fails(sign_in: SignIn) -> None:
    state, nonce = await sign_in.start()
    denied = await sign_in.client.get(
        f"{sign_in.base}/oauth/gh/callback",
        params={"error": "access_denied", "state": state},
        headers={"cookie": f"{NONCE_COOKIE}={nonce}"},
    )
    again = await sign_in.callback(state, nonce)
    assert denied.headers["location"] == FAILED + "access_denied"
    assert again.headers["location"] == FAILED + "invalid_state"


UNEXPECTED = {
    "an array": b'[{"id": 1}]',
    "a string": b'"ada"',
    "null": b"null",
    "no id at all": b'{"login": "ada"}',
    "an id that is an object": b'{"id": {"nested": 1}}',
    "an id that is true": b'{"id": true}',
    "an over-long id": b'{"id": "' + b"9" * 5000 + b'"}',
    "not JSON": b"<html>oops</html>",
    "JSON nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "a body over the response limit": b'{"id": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}',
}


@pytest.mark.parametrize("answer", UNEXPECTED.values(), ids=UNEXPECTED.keys())
async def test_a_userinfo_answer_of_an_unexpected_shape_is_a_clean_error(
    sign_in: SignIn, provider: Provider, answer: bytes
) -> None:
    provider.userinfo = answer
    state, nonce = await sign_in.start()
    response = await sign_in.callback(state, nonce)
    assert response.status_code == 302
    assert response.headers["location"] == FAILED + "exchange_failed"
    assert await drain(sign_in.connection, USERS_QUEUE) == []


async def test_odd_but_usable_profile_fields_still_sign_in(
    sign_in: SignIn, provider: Provider
) -> None:
    # An unusable email or a very long name is left out or cut, not a failed sign-in
    provider.userinfo = b'{"sub": "u-1", "email": "not an address", "name": "' + b"n" * 900 + b'"}'
    state, nonce = await sign_in.start()
    response = await sign_in.callback(state, nonce)
    assert response.headers["location"] == "https://app.example/welcome"
    [message] = await drain(sign_in.connection, USERS_QUEUE)
    assert b'"email":null' in message.body
