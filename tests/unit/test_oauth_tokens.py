"""Access tokens are hidden while in use and never collected by the process-wide redactor."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from contracts.base import Contract
from services.intake.oauth import NONCE_COOKIE, OAuthRoutes, endpoints, load_provider
from shared.config import OAuthProviderConfig
from shared.gateway import Gateway
from shared.gateway.testing import PUBLIC_ADDRESS, harness
from shared.publishing import Emitter
from shared.redact import Redactor

AUTH = "https://auth.example.com"
CONFIG = OAuthProviderConfig.model_validate(
    {
        "authorize_url": f"{AUTH}/authorize",
        "token_url": f"{AUTH}/token",
        "userinfo_url": f"{AUTH}/user",
        "client_id": "Iv1.test",
        "client_secret": "GH_CLIENT_SECRET",
        "state_secret": "OAUTH_STATE_KEY",
        "redirect_url": "https://app.example/oauth/gh/callback",
        "success_url": "https://app.example/welcome",
        "error_url": "https://app.example/signin-failed",
    }
)


def token_for(n: int) -> str:
    return f"gho_{n:04d}C7e42F292c6912E7710c838347Ae17"


class RecordingEmitter:
    def __init__(self) -> None:
        self.published: list[Contract] = []

    async def publish(self, data: Contract, **_: Any) -> None:
        self.published.append(data)


class RecordingGateway:
    """The real gateway, keeping every error it raised (their text is what could leak)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.errors: list[Exception] = []

    async def request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        try:
            return await self._gateway.request(*args, **kwargs)
        except Exception as error:
            self.errors.append(error)
            raise


class SignIns:
    def __init__(self, echo_token: bool) -> None:
        self.redactor = Redactor(["client-secret-0123"])
        self.issued = 0
        self.echo_token = echo_token
        h = harness(
            self.provider,
            *endpoints("gh", CONFIG),
            hosts={"auth.example.com": [PUBLIC_ADDRESS]},
            redactor=self.redactor,
        )
        self.gateway = RecordingGateway(h.gateway)
        self.emitter = RecordingEmitter()
        routes = OAuthRoutes(
            {"gh": load_provider("gh", CONFIG)},
            gateway=cast(Gateway, self.gateway),
            emitter=cast(Emitter, self.emitter),
            redactor=self.redactor,
        )
        self.app = Starlette(routes=routes.routes())

    async def provider(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            self.issued += 1
            return httpx.Response(200, json={"access_token": token_for(self.issued)})
        token = request.headers["authorization"].removeprefix("Bearer ")
        if self.echo_token:
            return httpx.Response(401, json={"message": f"revoked credentials {token} (sorry)"})
        return httpx.Response(200, json={"id": 583231, "login": "ada"})

    async def sign_in(self) -> str:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            started = await client.get("/oauth/gh/start")
            state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
            nonce = started.cookies[NONCE_COOKIE]
            answer = await client.get(
                "/oauth/gh/callback",
                params={"code": "good-code", "state": state},
                headers={"cookie": f"{NONCE_COOKIE}={nonce}"},
            )
        return answer.headers["location"]


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_CLIENT_SECRET", "client-secret-0123")
    monkeypatch.setenv("OAUTH_STATE_KEY", "state-signing-key-0123456789")


async def test_sign_ins_leave_no_token_behind_in_the_redactor() -> None:
    sign_ins = SignIns(echo_token=False)
    for _ in range(5):
        assert await sign_ins.sign_in() == "https://app.example/welcome"
    assert len(sign_ins.emitter.published) == 5
    for n in range(1, 6):
        assert sign_ins.redactor.clean(token_for(n)) == token_for(n)
    assert sign_ins.redactor.clean("client-secret-0123") == "***"


async def test_a_token_echoed_by_a_failing_provider_is_in_no_error_or_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sign_ins = SignIns(echo_token=True)
    with caplog.at_level(logging.DEBUG):
        location = await sign_ins.sign_in()
    assert location == "https://app.example/signin-failed?error=exchange_failed"
    [error] = sign_ins.gateway.errors
    assert "revoked credentials *** (sorry)" in str(error)
    assert token_for(1) not in str(error)
    assert token_for(1) not in caplog.text
    assert sign_ins.redactor.clean(token_for(1)) == token_for(1)


def test_a_value_is_hidden_only_inside_the_block() -> None:
    redactor = Redactor(["lasting-secret"])
    with redactor.hiding("passing-token"):
        assert redactor.clean("passing-token and lasting-secret") == "*** and ***"
    assert redactor.clean("passing-token and lasting-secret") == "passing-token and ***"


def test_a_value_hidden_twice_stays_hidden_until_both_blocks_end() -> None:
    redactor = Redactor()
    with redactor.hiding("shared-token"):
        with redactor.hiding("shared-token"):
            assert redactor.clean("shared-token") == "***"
        assert redactor.clean("shared-token") == "***"
    assert redactor.clean("shared-token") == "shared-token"


def test_a_failing_block_still_unhides() -> None:
    redactor = Redactor()
    with pytest.raises(RuntimeError), redactor.hiding("doomed-token"):
        raise RuntimeError(redactor.clean("doomed-token"))
    assert redactor.clean("doomed-token") == "doomed-token"


def test_a_hidden_value_containing_a_lasting_one_is_replaced_whole() -> None:
    redactor = Redactor(["abcd"])
    with redactor.hiding("xxabcdxx"):
        assert redactor.clean("[xxabcdxx]") == "[***]"


async def test_concurrent_sign_ins_each_keep_their_own_token_hidden() -> None:
    redactor = Redactor()
    release = asyncio.Event()
    seen: list[str] = []

    async def request(token: str) -> None:
        with redactor.hiding(token):
            await release.wait()
            seen.append(redactor.clean(f"echo {token}"))

    tasks = [asyncio.create_task(request(token_for(n))) for n in range(3)]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    assert seen == ["echo ***"] * 3
    assert all(redactor.clean(token_for(n)) == token_for(n) for n in range(3))
