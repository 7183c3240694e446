"""Inbound webhook signature verification for the schemes intake accepts.

Every scheme is HMAC-SHA256 over the raw request bytes. Several secrets may be valid at
once (rotation, newest first); each is tried against every signature the sender provided.
For any header or body input, `verify` raises only `VerificationError`, whose `reason` is
one of the constants below and never says which secret was tried or what was expected.

What each scheme's signature covers (SECURITY.md says what a captured request allows):
- standard-webhooks: `webhook-id`, `webhook-timestamp` and the body;
- stripe: the `t=` timestamp and the body (whose `id` names the event);
- github and hmac-sha256: the body only; delivery-id and event headers are unsigned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

MISSING = "missing signature headers"
MALFORMED = "malformed signature header"
BAD_SIGNATURE = "bad signature"
STALE = "timestamp outside tolerance"

Scheme = Literal["standard-webhooks", "stripe", "github", "hmac-sha256"]

# ASCII digits only: int() would also take " 12", "1_2", "+12" and non-ASCII digits.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_WHSEC = "whsec_"


class VerificationError(Exception):
    """The request's signature could not be verified; `reason` is safe to show the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What a verified request's signature covered, and what it did not."""

    webhook_id: str | None  # a delivery id the signature covers, if the scheme signs one
    timestamp: int | None
    secret_index: int
    # A delivery id from a header the signature does not cover: shown, never relied on.
    unsigned_id: str | None = None


def verify(
    scheme: Scheme,
    *,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    tolerance_seconds: int,
    now: float,
    signature_header: str = "X-Signature",
    signature_encoding: Literal["hex", "base64"] = "hex",
    id_header: str | None = None,
) -> Verified:
    """Verify a request's signature, or raise `VerificationError`.

    Raises `ValueError` for configuration bugs, never for request input: no secrets, a
    blank secret, a standard-webhooks secret that is not base64, or an unknown scheme.
    """
    # An empty key would make every signature forgeable, so it is a config bug, not a secret.
    if not secrets or not all(secret.strip() for secret in secrets):
        raise ValueError("at least one secret is required, and none may be blank")
    if scheme == "standard-webhooks":
        return _standard_webhooks(body, headers, secrets, tolerance_seconds, now)
    if scheme == "stripe":
        return _stripe(body, headers, secrets, tolerance_seconds, now)
    if scheme == "github":
        return _github(body, headers, secrets)
    if scheme == "hmac-sha256":
        return _generic(
            body,
            headers,
            secrets,
            signature_header=signature_header,
            encoding=signature_encoding,
            id_header=id_header,
        )
    raise ValueError(f"unknown signature scheme {scheme!r}")


def usable_secret(scheme: Scheme, secret: str) -> bool:
    """Whether `verify` accepts this secret for this scheme (checked once, at start-up)."""
    if not secret.strip():
        return False
    if scheme == "standard-webhooks":
        try:
            _whsec_key(secret)
        except ValueError:
            return False
    return True


def _standard_webhooks(
    body: bytes, headers: Mapping[str, str], secrets: Sequence[str], tolerance: int, now: float
) -> Verified:
    msg_id = _header(headers, "webhook-id") or _header(headers, "svix-id")
    stamp = _header(headers, "webhook-timestamp") or _header(headers, "svix-timestamp")
    header = _header(headers, "webhook-signature") or _header(headers, "svix-signature")
    if not (msg_id and stamp and header):
        raise VerificationError(MISSING)
    timestamp = _fresh_timestamp(stamp, tolerance, now)
    candidates: list[bytes] = []
    for entry in header.split(" "):
        version, _, value = entry.partition(",")
        # Other versions (v1a is Ed25519) are not ours to check; skip them.
        if version == "v1" and (decoded := _b64(value)) is not None:
            candidates.append(decoded)
    if not candidates:
        raise VerificationError(MALFORMED)
    # The header text as sent is what was signed (int() would drop leading zeros).
    content = _utf8(f"{msg_id}.{stamp}.") + body
    keys = [_whsec_key(secret) for secret in secrets]
    return Verified(msg_id, timestamp, _match(keys, content, candidates))


def _stripe(
    body: bytes, headers: Mapping[str, str], secrets: Sequence[str], tolerance: int, now: float
) -> Verified:
    header = _header(headers, "stripe-signature")
    if not header:
        raise VerificationError(MISSING)
    stamps: list[str] = []
    candidates: list[bytes] = []
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            stamps.append(value)
        elif key == "v1" and (decoded := _hex(value)) is not None:
            candidates.append(decoded)
    if len(stamps) != 1 or not candidates:
        raise VerificationError(MALFORMED)
    timestamp = _fresh_timestamp(stamps[0], tolerance, now)
    content = f"{stamps[0]}.".encode() + body
    keys = [secret.encode() for secret in secrets]
    return Verified(None, timestamp, _match(keys, content, candidates))


def _github(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> Verified:
    header = _header(headers, "x-hub-signature-256")
    if not header:
        raise VerificationError(MISSING)
    prefix, _, value = header.partition("=")
    signature = _hex(value) if prefix == "sha256" else None
    if signature is None:
        raise VerificationError(MALFORMED)
    keys = [secret.encode() for secret in secrets]
    delivery = _header(headers, "x-github-delivery") or None
    return Verified(None, None, _match(keys, body, [signature]), unsigned_id=delivery)


def _generic(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    signature_header: str,
    encoding: Literal["hex", "base64"],
    id_header: str | None,
) -> Verified:
    header = _header(headers, signature_header)
    if not header:
        raise VerificationError(MISSING)
    value = header.removeprefix("sha256=")
    signature = _hex(value) if encoding == "hex" else _b64(value)
    if signature is None:
        raise VerificationError(MALFORMED)
    keys = [secret.encode() for secret in secrets]
    webhook_id = (_header(headers, id_header) or None) if id_header else None
    return Verified(None, None, _match(keys, body, [signature]), unsigned_id=webhook_id)


def _match(keys: Sequence[bytes], content: bytes, candidates: Sequence[bytes]) -> int:
    """The index of the first key whose HMAC equals one of the candidates."""
    for index, key in enumerate(keys):
        expected = hmac.new(key, content, hashlib.sha256).digest()
        for candidate in candidates:
            if hmac.compare_digest(expected, candidate):
                return index
    raise VerificationError(BAD_SIGNATURE)


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name.lower(), "")


def _fresh_timestamp(value: str, tolerance: int, now: float) -> int:
    if not _TIMESTAMP.fullmatch(value):
        raise VerificationError(MALFORMED)
    timestamp = int(value)
    if abs(now - timestamp) > tolerance:
        raise VerificationError(STALE)
    return timestamp


def _hex(value: str) -> bytes | None:
    return bytes.fromhex(value) if _HEX.fullmatch(value) else None


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True) or None
    except ValueError:  # binascii.Error, or non-ASCII input
        return None


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates cannot have been signed by anyone
        raise VerificationError(MALFORMED) from None


def _whsec_key(secret: str) -> bytes:
    encoded = secret.removeprefix(_WHSEC)
    # Secrets are sometimes shared unpadded; the reference library tolerates that too.
    key = _b64(encoded + "=" * (-len(encoded) % 4))
    if not key:
        raise ValueError("a standard-webhooks secret must be non-empty base64, optionally whsec_")
    return key
