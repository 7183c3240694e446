"""Inbound webhook signatures: requests signed by the official libraries verify, others do not."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook
from starlette.datastructures import Headers

from services.intake.signatures import (
    BAD_SIGNATURE,
    MALFORMED,
    MISSING,
    STALE,
    Scheme,
    VerificationError,
    Verified,
    verify,
)

NOW = 1_700_000_000
TOLERANCE = 300
BODY = b'{"type":"order.created","data":{"id":"ord_1","note":"caf\xc3\xa9"}}'

# The example secret from the Standard Webhooks docs, and a second one for rotation.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_OLD_SECRET = "whsec_" + base64.b64encode(b"an older key, still valid").decode()
STRIPE_SECRET = "whsec_stripe_test_secret"
STRIPE_OLD_SECRET = "whsec_stripe_old_secret"
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_OLD_SECRET = "an older github secret"


def sw_signature(
    body: bytes, *, secret: str = SW_SECRET, ts: int = NOW, msg_id: str = "msg_1"
) -> str:
    """A `v1,<base64>` entry made by the official standardwebhooks library."""
    sent_at = datetime.fromtimestamp(ts, tz=UTC)
    signature: str = Webhook(secret).sign(msg_id, sent_at, body.decode())
    return signature


def sw_headers(
    body: bytes,
    *,
    secret: str = SW_SECRET,
    ts: int = NOW,
    prefix: str = "webhook-",
    signature: str | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers, signed by the official library unless `signature` is given."""
    return {
        f"{prefix}id": "msg_1",
        f"{prefix}timestamp": str(ts),
        f"{prefix}signature": signature or sw_signature(body, secret=secret, ts=ts),
    }


def stripe_headers(body: bytes, *, secret: str = STRIPE_SECRET, ts: int = NOW) -> dict[str, str]:
    """A `Stripe-Signature` header made by the official stripe library."""
    header: str = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=ts
    )
    return {"stripe-signature": header}


def github_headers(body: bytes, *, secret: str = GITHUB_SECRET) -> dict[str, str]:
    """GitHub's `X-Hub-Signature-256`, computed as GitHub documents it."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "x-github-delivery": "d-1"}


Signer = Callable[..., dict[str, str]]
SIGNERS: dict[str, tuple[Signer, str, str]] = {
    "standard-webhooks": (sw_headers, SW_SECRET, SW_OLD_SECRET),
    "stripe": (stripe_headers, STRIPE_SECRET, STRIPE_OLD_SECRET),
    "github": (github_headers, GITHUB_SECRET, GITHUB_OLD_SECRET),
}


def check(
    scheme: Scheme,
    headers: Mapping[str, str],
    *,
    body: bytes = BODY,
    secrets: list[str] | None = None,
    now: float = NOW,
    **options: Any,
) -> Verified:
    """Call `verify` with the defaults these tests share."""
    default = SIGNERS[scheme][1] if scheme in SIGNERS else GITHUB_SECRET
    return verify(
        scheme,
        body=body,
        headers=headers,
        secrets=secrets or [default],
        tolerance_seconds=TOLERANCE,
        now=now,
        **options,
    )


def reason_for(scheme: Scheme, headers: Mapping[str, str], **kwargs: Any) -> str:
    """The reason `verify` refuses the request with."""
    with pytest.raises(VerificationError) as caught:
        check(scheme, headers, **kwargs)
    return caught.value.reason


# --- accepted -------------------------------------------------------------------------------


def test_standard_webhooks_accepts_official_signature() -> None:
    # Given a request signed by the official standardwebhooks library
    headers = sw_headers(BODY)
    # When it is verified / Then the id and timestamp come from the headers
    assert check("standard-webhooks", headers) == Verified("msg_1", NOW, 0)


def test_standard_webhooks_accepts_svix_prefixed_headers() -> None:
    assert check("standard-webhooks", sw_headers(BODY, prefix="svix-")) == Verified("msg_1", NOW, 0)


def test_standard_webhooks_accepts_unprefixed_secret() -> None:
    bare = SW_SECRET.removeprefix("whsec_")
    assert check("standard-webhooks", sw_headers(BODY), secrets=[bare]).secret_index == 0


def test_stripe_accepts_official_signature() -> None:
    assert check("stripe", stripe_headers(BODY)) == Verified(None, NOW, 0)


def test_github_accepts_signature_and_reports_delivery() -> None:
    assert check("github", github_headers(BODY)) == Verified(None, None, 0, unsigned_id="d-1")


def test_github_matches_documented_example() -> None:
    # Given the test vector from GitHub's "Validating webhook deliveries" docs
    digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    headers = {"x-hub-signature-256": f"sha256={digest}"}
    # Then it verifies, and a missing delivery header is simply no id
    assert check("github", headers, body=b"Hello, World!") == Verified(None, None, 0)


def test_timestamp_exactly_at_tolerance_is_accepted() -> None:
    headers = sw_headers(BODY, ts=NOW - TOLERANCE)
    assert check("standard-webhooks", headers).timestamp == NOW - TOLERANCE


# --- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", list(SIGNERS))
def test_tampered_body_is_refused(scheme: Scheme) -> None:
    headers = SIGNERS[scheme][0](BODY)
    assert reason_for(scheme, headers, body=BODY.replace(b"ord_1", b"ord_2")) == BAD_SIGNATURE


@pytest.mark.parametrize("scheme", list(SIGNERS))
def test_wrong_secret_is_refused_without_revealing_it(scheme: Scheme) -> None:
    # Given a request signed with a secret we do not hold
    sign, ours, theirs = SIGNERS[scheme]
    with pytest.raises(VerificationError) as caught:
        check(scheme, sign(BODY, secret=theirs), secrets=[ours])
    # Then the refusal says only "bad signature": no secret, no expected value
    assert caught.value.reason == BAD_SIGNATURE
    assert str(caught.value) == BAD_SIGNATURE


@pytest.mark.parametrize("scheme", ["standard-webhooks", "stripe"])
@pytest.mark.parametrize("offset", [-(TOLERANCE + 1), TOLERANCE + 1, -86_400, 86_400])
def test_timestamp_outside_tolerance_is_refused(scheme: Scheme, offset: int) -> None:
    # Given a correctly signed request sent too long ago, or too far in the future
    headers = SIGNERS[scheme][0](BODY, ts=NOW + offset)
    assert reason_for(scheme, headers) == STALE


@pytest.mark.parametrize(
    ("scheme", "dropped"),
    [
        ("standard-webhooks", "webhook-id"),
        ("standard-webhooks", "webhook-timestamp"),
        ("standard-webhooks", "webhook-signature"),
        ("stripe", "stripe-signature"),
        ("github", "x-hub-signature-256"),
    ],
)
def test_missing_header_is_refused(scheme: Scheme, dropped: str) -> None:
    headers = SIGNERS[scheme][0](BODY)
    del headers[dropped]
    assert reason_for(scheme, headers) == MISSING


@pytest.mark.parametrize("scheme", ["standard-webhooks", "stripe", "github", "hmac-sha256"])
def test_no_headers_at_all_is_missing(scheme: Scheme) -> None:
    assert reason_for(scheme, {}) == MISSING


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("webhook-timestamp", "soon"),
        ("webhook-timestamp", "1700000000.5"),
        ("webhook-timestamp", "-1700000000"),
        ("webhook-timestamp", "1_700_000_000"),
        ("webhook-timestamp", "\u0661\u0667"),  # Arabic-Indic digits, which int() accepts
        ("webhook-timestamp", "9" * 5000),  # beyond int()'s digit limit
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", "v1"),
        ("webhook-signature", "v2,c2lnbmF0dXJl"),
        ("webhook-signature", "v1a,c2lnbmF0dXJl"),
    ],
)
def test_malformed_standard_webhooks_header_is_refused(header: str, value: str) -> None:
    headers = sw_headers(BODY) | {header: value}
    assert reason_for("standard-webhooks", headers) == MALFORMED


@pytest.mark.parametrize(
    "value",
    [
        "v1=abcd",  # no timestamp
        f"t={NOW}",  # no v1 signature
        f"t={NOW},v0={'ab' * 32}",  # only the legacy scheme
        f"t={NOW},t={NOW},v1={'ab' * 32}",  # ambiguous timestamp
        f"t=later,v1={'ab' * 32}",
        f"t={NOW},v1=xyz",
        "garbage",
    ],
)
def test_malformed_stripe_header_is_refused(value: str) -> None:
    assert reason_for("stripe", {"stripe-signature": value}) == MALFORMED


@pytest.mark.parametrize(
    "value", ["sha1=" + "ab" * 20, "ab" * 32, "sha256=", "sha256=zz", "sha256=abc"]
)
def test_malformed_github_header_is_refused(value: str) -> None:
    assert reason_for("github", {"x-hub-signature-256": value}) == MALFORMED


# --- several signatures, several secrets ------------------------------------------------------


def test_standard_webhooks_accepts_one_valid_among_several_signatures() -> None:
    # Given a header listing a foreign version, garbage, a wrong v1 and the right v1
    wrong = sw_signature(BODY, secret=SW_OLD_SECRET)
    right = sw_signature(BODY)
    header = f"v1a,c2lnbmF0dXJl v1,%%% {wrong} {right}"
    # Then the one right signature is enough
    headers = sw_headers(BODY, signature=header)
    assert check("standard-webhooks", headers) == Verified("msg_1", NOW, 0)


def test_stripe_accepts_one_valid_among_several_signatures() -> None:
    good = stripe_headers(BODY)["stripe-signature"]
    bad = stripe_headers(BODY, secret=STRIPE_OLD_SECRET)["stripe-signature"].split(",")[1]
    header = f"{good.split(',')[0]},{bad},v0=00,{good.split(',')[1]}"
    assert check("stripe", {"stripe-signature": header}) == Verified(None, NOW, 0)


@pytest.mark.parametrize("scheme", list(SIGNERS))
@pytest.mark.parametrize("signed_with", [0, 1])
def test_rotation_accepts_either_secret_and_reports_which(scheme: Scheme, signed_with: int) -> None:
    # Given two configured secrets, newest first, and a request signed with one of them
    sign, newest, older = SIGNERS[scheme]
    configured = [newest, older]
    headers = sign(BODY, secret=configured[signed_with])
    # Then it verifies, and secret_index says which one matched
    assert check(scheme, headers, secrets=configured).secret_index == signed_with


# --- generic hmac-sha256 ----------------------------------------------------------------------


def test_hmac_sha256_hex_with_case_insensitive_headers() -> None:
    # Given configured header names in any case, and starlette's case-insensitive Headers
    digest = hmac.new(b"generic", BODY, hashlib.sha256).hexdigest()
    headers = Headers({"X-Acme-Signature": digest, "X-Acme-Delivery": "del-9"})
    # When verified with those names
    verified = check(
        "hmac-sha256",
        headers,
        secrets=["generic"],
        signature_header="x-acme-SIGNATURE",
        id_header="X-ACME-DELIVERY",
    )
    # Then it passes and the delivery id comes from the id header
    assert verified == Verified(None, None, 0, unsigned_id="del-9")


@pytest.mark.parametrize("prefix", ["", "sha256="])
def test_hmac_sha256_base64_with_optional_prefix(prefix: str) -> None:
    digest = base64.b64encode(hmac.new(b"generic", BODY, hashlib.sha256).digest()).decode()
    headers = {"x-signature": prefix + digest}
    verified = check("hmac-sha256", headers, secrets=["generic"], signature_encoding="base64")
    assert verified == Verified(None, None, 0)


@pytest.mark.parametrize(
    ("encoding", "value", "reason"),
    [
        ("hex", "not hex", MALFORMED),
        ("hex", "abc", MALFORMED),
        ("base64", "***", MALFORMED),
        ("base64", "\u00e9\u00e9\u00e9\u00e9", MALFORMED),
        ("hex", "ab" * 32, BAD_SIGNATURE),
        ("base64", "c2lnbmF0dXJl", BAD_SIGNATURE),
    ],
)
def test_hmac_sha256_refuses_bad_values(encoding: str, value: str, reason: str) -> None:
    headers = {"x-signature": value}
    assert reason_for("hmac-sha256", headers, signature_encoding=encoding) == reason


# --- configuration bugs -----------------------------------------------------------------------


@pytest.mark.parametrize("secrets", [[], [""], [GITHUB_SECRET, "  "]])
def test_no_or_blank_secret_is_a_config_error(secrets: list[str]) -> None:
    with pytest.raises(ValueError, match="secret"):
        verify(
            "github",
            body=BODY,
            headers=github_headers(BODY),
            secrets=secrets,
            tolerance_seconds=TOLERANCE,
            now=NOW,
        )


# --- properties -------------------------------------------------------------------------------

HEADER_NAMES = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "x-signature",
    "x-id",
]
# Lone surrogates never come out of starlette, but nothing should crash on them either.
ANY_CHAR = st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
STAMP = st.integers(NOW - 2 * TOLERANCE, NOW + 2 * TOLERANCE).map(str)
HEX = st.binary(min_size=1, max_size=40).map(bytes.hex)
B64 = st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode())
FRAGMENT = st.one_of(st.text(ANY_CHAR, max_size=20), STAMP, HEX, B64)
# Mostly well-formed entries, so that the fuzzing also reaches the HMAC comparison.
ENTRY = st.one_of(
    STAMP.map("t={}".format),
    HEX.map("v1={}".format),
    B64.map("v1,{}".format),
    HEX.map("sha256={}".format),
    st.builds(
        "{}{}".format, st.sampled_from(["t=", "v1=", "v0=", "v1,", "v1a,", "sha256=", ""]), FRAGMENT
    ),
)
HEADER_VALUE = st.one_of(
    st.text(ANY_CHAR),
    FRAGMENT,
    st.builds(str.join, st.sampled_from([",", " "]), st.lists(ENTRY, max_size=4)),
)
HEADERS = st.builds(
    dict.__or__,
    st.fixed_dictionaries({}, optional=dict.fromkeys(HEADER_NAMES, HEADER_VALUE)),
    st.dictionaries(st.text(ANY_CHAR, max_size=10), HEADER_VALUE, max_size=3),
)


@pytest.mark.parametrize("scheme", ["standard-webhooks", "stripe", "github", "hmac-sha256"])
@given(
    fuzzed=HEADERS,
    body=st.binary(),
    signed=st.booleans(),
    encoding=st.sampled_from(["hex", "base64"]),
)
def test_any_request_raises_only_verification_error(
    scheme: Scheme, fuzzed: dict[str, str], body: bytes, signed: bool, encoding: str
) -> None:
    # Given arbitrary headers, half the time laid over a valid set, so parsing gets past
    # "missing" often. Any exception but VerificationError escapes and fails the test.
    headers = fuzzed
    if signed and scheme in SIGNERS:
        headers = SIGNERS[scheme][0](BODY) | fuzzed
    reason = None
    try:
        check(scheme, headers, body=body, signature_encoding=encoding, id_header="x-id")
    except VerificationError as refused:
        reason = refused.reason
    # Then it is accepted (hypothesis may reuse BODY) or refused with a known reason
    assert reason in {None, MISSING, MALFORMED, BAD_SIGNATURE, STALE}


@pytest.mark.parametrize("scheme", ["standard-webhooks", "stripe"])
@given(text=st.text(), offset=st.integers(-TOLERANCE, TOLERANCE))
def test_any_officially_signed_body_verifies(scheme: Scheme, text: str, offset: int) -> None:
    body = text.encode()
    headers = SIGNERS[scheme][0](body, ts=NOW + offset)
    assert check(scheme, headers, body=body).timestamp == NOW + offset
