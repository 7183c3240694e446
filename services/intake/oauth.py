"""OAuth sign-in: a signed, expiring, single-use state bound to a cookie.

`GET /oauth/{provider}/start` redirects to the provider; `/callback` checks the state, exchanges
the code through the gateway, publishes `user.authenticated.v1` (never a token) and answers with
an HttpOnly, Secure, SameSite session cookie and a redirect.

A state is used once: the callback clears the cookie it is bound to and remembers the state's
nonce until the state expires, so a replayed callback is refused. That memory is per process;
SECURITY.md says what a store shared by the replicas would add.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from contracts.envelope import utc_now
from contracts.fields import EmailAddress
from contracts.users import UserAuthenticatedV1
from services.intake.dedupe import Window
from shared.bounded_json import loads
from shared.config import OAuthProviderConfig, read_secret
from shared.errors import EventyardError
from shared.gateway import EndpointPolicy, Gateway
from shared.publishing import Emitter
from shared.redact import Redactor

log = logging.getLogger(__name__)

NONCE_COOKIE = "eventyard_oauth_nonce"
SESSION_COOKIE = "eventyard_session"
KNOWN_PROVIDER_ERRORS = frozenset({"access_denied", "temporarily_unavailable", "server_error"})
# Used states remembered at once; past this the oldest go first (they expire within the TTL).
MAX_USED_STATES = 100_000
MAX_PROFILE_TEXT = 200
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailAddress)


@dataclass(frozen=True)
class Provider:
    """A configured provider with its secrets loaded."""

    name: str
    config: OAuthProviderConfig
    client_secret: str
    state: URLSafeTimedSerializer
    session: URLSafeTimedSerializer


def endpoints(name: str, config: OAuthProviderConfig) -> list[EndpointPolicy]:
    """The gateway endpoints a provider needs: its token and its user-info URLs."""
    return [
        EndpointPolicy(
            f"oauth-{name}-{kind}",
            str(url),
            timeout=config.timeout_seconds,
            max_retries=0,  # a code is single-use: never send it twice
            allow_private_network=config.allow_private_network,
        )
        for kind, url in (("token", config.token_url), ("user", config.userinfo_url))
    ]


def load_provider(name: str, config: OAuthProviderConfig) -> Provider:
    """Read the provider's secrets from the environment."""
    key = read_secret(config.state_secret)
    return Provider(
        name,
        config,
        read_secret(config.client_secret),
        URLSafeTimedSerializer(key, salt=f"eventyard-oauth-state-{name}"),
        URLSafeTimedSerializer(key, salt="eventyard-session"),
    )


class OAuthRoutes:
    """The start and callback endpoints for every provider."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        gateway: Gateway,
        emitter: Emitter,
        redactor: Redactor,
    ) -> None:
        self._providers = providers
        self._gateway = gateway
        self._emitter = emitter
        self._redactor = redactor
        ttl = max((p.config.state_ttl_seconds for p in providers.values()), default=600)
        self._used = Window(MAX_USED_STATES, ttl)

    def routes(self) -> list[Route]:
        """`/oauth/{provider}/start` and `/oauth/{provider}/callback`."""
        return [
            Route("/oauth/{provider}/start", self.start, methods=["GET"]),
            Route("/oauth/{provider}/callback", self.callback, methods=["GET"]),
        ]

    async def start(self, request: Request) -> Response:
        """Redirect to the provider with a fresh signed state, its nonce in a cookie."""
        provider = self._providers.get(request.path_params["provider"])
        if provider is None:
            raise HTTPException(404, "unknown provider")
        config, nonce = provider.config, secrets.token_urlsafe(24)
        state = provider.state.dumps({"p": provider.name, "n": nonce})
        query = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": str(config.redirect_url),
            "state": state,
            "scope": " ".join(config.scopes),
        }
        response = RedirectResponse(f"{config.authorize_url}?{urlencode(query)}", 302)
        response.set_cookie(
            NONCE_COOKIE,
            nonce,
            max_age=config.state_ttl_seconds,
            path=f"/oauth/{provider.name}",
            httponly=True,
            secure=True,
            samesite="lax",
        )
        return response

    async def callback(self, request: Request) -> Response:
        """Check the state, exchange the code, publish, set the session, redirect."""
        provider = self._providers.get(request.path_params["provider"])
        if provider is None:
            raise HTTPException(404, "unknown provider")
        params = request.query_params
        if not self._state_ok(provider, params.get("state"), request.cookies.get(NONCE_COOKIE)):
            return self._error(provider, "invalid_state")
        # Spent before the exchange, so a replay racing the first callback is refused as well.
        self._used[f"{provider.name}:{request.cookies[NONCE_COOKIE]}"] = "used"
        if params.get("error"):
            reason = params["error"] if params["error"] in KNOWN_PROVIDER_ERRORS else "denied"
            return self._error(provider, reason)
        try:
            user = await self._user(provider, params.get("code", ""))
        except (EventyardError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "oauth exchange failed",
                extra={"provider": provider.name, "error": type(error).__name__},
            )
            return self._error(provider, "exchange_failed")
        try:
            await self._emitter.publish(user, subject=user.provider_user_id, require_route=False)
        except EventyardError:
            return self._error(provider, "temporarily_unavailable")
        response = RedirectResponse(str(provider.config.success_url), 302)
        session = provider.session.dumps({"p": provider.name, "u": user.provider_user_id})
        response.set_cookie(
            SESSION_COOKIE,
            session,
            max_age=provider.config.session_ttl_seconds,
            path="/",
            httponly=True,
            secure=True,
            samesite="lax",
        )
        response.delete_cookie(NONCE_COOKIE, path=f"/oauth/{provider.name}")
        return response

    def _state_ok(self, provider: Provider, state: str | None, nonce: str | None) -> bool:
        if not state or not nonce:
            return False
        try:
            claims = provider.state.loads(state, max_age=provider.config.state_ttl_seconds)
        except BadSignature:  # also SignatureExpired
            return False
        if not isinstance(claims, dict) or claims.get("p") != provider.name:
            return False
        if self._used.get(f"{provider.name}:{nonce}") is not None:
            return False
        return hmac.compare_digest(str(claims.get("n", "")), nonce)

    async def _user(self, provider: Provider, code: str) -> UserAuthenticatedV1:
        config = provider.config
        if not code:
            raise ValueError("no code")
        token_answer = await self._gateway.request(
            f"oauth-{provider.name}-token",
            "POST",
            headers={
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            content=urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": str(config.redirect_url),
                    "client_id": config.client_id,
                    "client_secret": provider.client_secret,
                }
            ).encode(),
        )
        access_token = _text(_object(token_answer.content).get("access_token"))
        if access_token is None:
            raise ValueError("the token answer has no access_token")
        # Whatever fails while the token is in use must not echo it; hidden only meanwhile, so
        # the process-wide redactor does not collect one token per sign-in.
        with self._redactor.hiding(access_token):
            answer = await self._gateway.request(
                f"oauth-{provider.name}-user",
                "GET",
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        return _user_from(provider.name, _object(answer.content))

    def _error(self, provider: Provider, reason: str) -> Response:
        response = RedirectResponse(
            f"{provider.config.error_url}?{urlencode({'error': reason})}", 302
        )
        response.delete_cookie(NONCE_COOKIE, path=f"/oauth/{provider.name}")
        return response


def _object(body: bytes) -> dict[str, Any]:
    """A provider's JSON answer, which must be an object; ValueError or TypeError otherwise."""
    found = loads(body)
    if not isinstance(found, dict):
        raise TypeError(f"expected a JSON object, got {type(found).__name__}")
    return found


def _text(value: Any) -> str | None:
    """A profile field as text: strings and integers (GitHub's numeric ids) only."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


def _user_from(provider: str, profile: Mapping[str, Any]) -> UserAuthenticatedV1:
    """The sign-in event from a userinfo answer; ValueError when it names nobody."""
    user_id = _text(profile.get("sub")) or _text(profile.get("id"))
    if user_id is None:
        raise ValueError("the userinfo answer has no usable sub or id")
    email = _text(profile.get("email"))
    name = _text(profile.get("name")) or _text(profile.get("login"))
    return UserAuthenticatedV1(
        provider=provider,
        provider_user_id=user_id,
        # An address the contract refuses is left out rather than refusing the sign-in.
        email=email if email is not None and _plausible_email(email) else None,
        name=name[:MAX_PROFILE_TEXT] if name else None,
        authenticated_at=utc_now(),
    )


def _plausible_email(value: str) -> bool:
    try:
        _EMAIL.validate_python(value)
    except ValueError:
        return False
    return True
