"""Keeps secrets out of error messages, logs, parked-message headers and attempt records.

`Redactor.clean` is the one function every path uses (the consumer's and intake's parked
headers, the gateway's attempt records, the publisher's delivery errors, and every log line
`shared.logs` writes). It hides two kinds of thing:

- values it was told about (`Redactor(secrets)`, `add`, `hiding`), together with their common
  encodings: standard and URL-safe base64 with and without padding, percent-encoding, and for a
  `user:password` secret (or a URL carrying one) the password alone and the Basic-auth base64;
- whatever looks like a credential: the value of any key whose name mentions a token, secret,
  password, API/access/private key, authorization, cookie, credential, session or signature
  (JSON, YAML, query, header, form and Python-repr styles), `Bearer`/`Basic`/`Token`/`Digest`
  credentials, the user-info and every query or fragment value of a URL, PEM private keys,
  JSON Web Tokens and webhook secrets (`whsec_…`).

Every pattern is compiled once and bounded so that `clean` stays linear in the text's length;
the known values are one alternation, rebuilt only when the set of values changes.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from urllib.parse import quote, quote_plus, unquote, urlsplit

MAX_ERROR_CHARS = 500
MIN_SECRET_CHARS = 4
MASK = "***"
MEMO_CHARS = 512
MEMO_ENTRIES = 256

# What makes a key credential-shaped, wherever it sits in the key's name, in any case and with
# `-`, `_`, `.`, a space or nothing between the words: access_token, X-Api-Key, client_secret,
# aws_secret_access_key, "Private Key", sessionid, x-amz-signature, Set-Cookie, …
_WORDS = (
    r"token|secret|passw(?:or)?d|passphrase|pwd"
    r"|(?:api|access|private|signing|encryption|master|account|client)[-_. ]?key"
    r"|authori[sz]ation|cookie|credential|session|signature|jwt"
)
_NAME_CHAR = r"[A-Za-z0-9_.-]"
# The rest of the key's name (bounded, so a huge word cannot make a match quadratic), unless
# it is an exception's name: `InvalidTokenError: expired` describes, it does not disclose.
_KEY = rf"(?:{_WORDS}){_NAME_CHAR}{{0,64}}+(?<!error)(?<!exception)(?<!warning)"
# `key=`, `key: `, `"key": `, `'key': `, `\"key\": `, `key => `
_SEPARATOR = r"\\?[\"']?[ \t]*+(?:=>|[:=])[ \t]*+"
# A value: quoted (escapes allowed, the closing quote optional for text cut short), quoted
# with escaped quotes inside a JSON string, or bare up to the next delimiter.
_VALUE = (
    r"\"(?:[^\"\\\r\n]|\\.)*+(?P<double>\")?"
    r"|'(?:[^'\\\r\n]|\\.)*+(?P<single>')?"
    r"|\\\"[^\"\r\n]*+(?P<escaped>\")?"
    r"|[^\s\"'`,;&<>(){}\[\]\\]++"
)

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?)-----"
    r".*?(?:-----END (?P=label)-----|\Z)",
    re.DOTALL,
)
_URL = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}+://)(?P<rest>[^\s\"'`<>\\]*+)"
)
_QUERY_VALUE = re.compile(r"(?P<keep>[?&#;][^=&#;?]*=)[^&#;]+")
_PORT = re.compile(r"[0-9]*")
# Authorization and cookie headers: everything to the end of the line (several cookies, or a
# scheme and its credentials, or Digest's parameters).
_WHOLE_LINE = re.compile(
    rf"(?i)(?P<keep>(?:authori[sz]ation|cookie){_NAME_CHAR}{{0,64}}+{_SEPARATOR})"
    r"(?![\"'\\])[^\r\n]+"
)
# `key: value` alone on its line (headers, YAML): the value may hold spaces.
_LINE = re.compile(
    rf"(?im)(?P<keep>^[ \t]*+(?:-[ \t]*+)?{_NAME_CHAR}{{0,64}}?{_KEY}[\"']?[ \t]*+:[ \t]*+)"
    r"(?![\"'\\])[^\r\n]+"
)
_SCHEME = re.compile(
    r"(?i)(?P<keep>\b(?:bearer|basic|token|digest)[ \t]++)"
    r"(?P<value>[A-Za-z0-9][A-Za-z0-9._~+/=-]*+)"
)
_SENSITIVE_NAME = re.compile(rf"(?i){_KEY}")
# What any of the patterns below needs somewhere in the text; without it only the known values
# are looked for (most log fields: names, methods, paths, outcomes), at a fraction of the cost.
_MAY_HOLD = re.compile(r"(?i)[:=]|-----BEGIN|bearer|basic|token|digest|whsec_|eyJ")
_KEY_VALUE = re.compile(rf"(?i)(?P<keep>{_KEY}{_SEPARATOR})(?P<value>{_VALUE})")
_SHAPES = (
    (re.compile(r"(?P<keep>\bwhsec_)[A-Za-z0-9+/=]++"), rf"\g<keep>{MASK}"),
    # A JSON Web Token: header.payload.signature, base64url, the header a JSON object.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]*+"), MASK),
)


class Redactor:
    """Replaces known secret values and secret-looking patterns, and bounds the length."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lasting = set(secrets)
        # Counted, so concurrent requests hiding the same value do not unhide it for each other.
        self._passing: Counter[str] = Counter()
        self._known: re.Pattern[str] | None = None
        self._stale = True
        # Short texts come back again and again (a destination's `{"ok":true}`, an error
        # line): remembered while the known values stay the same (~12 µs a pass otherwise).
        self._memo: dict[tuple[str, int], str] = {}

    def add(self, secret: str) -> None:
        """Also hide this value from now on (for secrets the process keeps)."""
        if secret not in self._lasting:
            self._lasting.add(secret)
            self._stale = True

    @contextmanager
    def hiding(self, secret: str) -> Iterator[None]:
        """Also hide this value until the block ends (for per-request secrets such as tokens)."""
        self._passing[secret] += 1
        self._stale = True
        try:
            yield
        finally:
            self._passing[secret] -= 1
            if self._passing[secret] <= 0:
                del self._passing[secret]
            self._stale = True

    def _known_values(self) -> re.Pattern[str] | None:
        """One alternation of every known value and encoding, compiled when the set changed."""
        if self._stale:
            self._stale = False
            values = {v for s in (*self._lasting, *self._passing) for v in _variants(s)}
            # Longest first, so a value that contains another is replaced whole.
            ordered = sorted(values, key=lambda v: (-len(v), v))
            self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            self._memo.clear()
        return self._known

    def clean(self, text: str, limit: int = MAX_ERROR_CHARS) -> str:
        """The text with secrets replaced by `***`, cut to `limit` characters."""
        known = self._known_values()
        if len(text) > MEMO_CHARS:
            return self._clean(known, text, limit)
        found = self._memo.get((text, limit))
        if found is None:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            found = self._memo[text, limit] = self._clean(known, text, limit)
        return found

    def _clean(self, known: re.Pattern[str] | None, text: str, limit: int) -> str:
        if known is not None:
            text = known.sub(MASK, text)
        if _MAY_HOLD.search(text) is None:
            return text if len(text) <= limit else text[: limit - 1] + "…"
        text = _PRIVATE_KEY.sub(r"-----BEGIN \g<label>-----***-----END \g<label>-----", text)
        text = _URL.sub(_clean_url, text)
        text = _WHOLE_LINE.sub(rf"\g<keep>{MASK}", text)
        text = _LINE.sub(rf"\g<keep>{MASK}", text)
        text = _SCHEME.sub(_clean_scheme, text)
        text = _KEY_VALUE.sub(_clean_key_value, text)
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=1024)  # log lines carry the same few field names over and over
def is_sensitive_key(name: str) -> bool:
    """Whether a field called `name` holds a credential (for structured log fields)."""
    return _SENSITIVE_NAME.search(name) is not None


def _variants(secret: str) -> set[str]:
    """The secret and the forms it travels in, each long enough to hide safely."""
    parts = {secret}
    if "://" in secret:
        try:
            split = urlsplit(secret)
            password = split.password
        except ValueError:
            password = None
        if password:
            user, plain = unquote(split.username or ""), unquote(password)
            parts |= {password, plain, f"{user}:{plain}"}
    elif ":" in secret:
        parts.add(secret.partition(":")[2])  # user:password → the password alone
    found: set[str] = set()
    for part in parts:
        if len(part) >= MIN_SECRET_CHARS:
            found |= _encodings(part)
    return {v for v in found if len(v) >= MIN_SECRET_CHARS}


def _encodings(value: str) -> set[str]:
    raw = value.encode()
    standard = base64.b64encode(raw).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(raw).decode("ascii")
    return {
        value,
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        quote(value, safe=""),
        quote(value),
        quote_plus(value, safe=""),
    }


def _clean_url(match: re.Match[str]) -> str:
    """The URL with its user-info (the password, or a bare token) and query values masked."""
    rest = match["rest"]
    head = ""
    at = _userinfo_end(rest)
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        head = f"{user}:{MASK}@" if colon else f"{MASK}@"
        rest = rest[at + 1 :]
    query = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    if query >= 0:
        rest = rest[:query] + _QUERY_VALUE.sub(rf"\g<keep>{MASK}", rest[query:])
    return match["scheme"] + head + rest


def _userinfo_end(rest: str) -> int:
    """Where the user-info of `scheme://rest` ends (its `@`), or -1 when there is none.

    A password with raw `/`, `?`, `#` or `@` (not percent-encoded, as it should be) still
    counts: `user:pa/ss@host` ends at the last `@`; but `host:5672/path?to=a@b` has none.
    """
    delimiters = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
    authority = rest[: min(delimiters)] if delimiters else rest
    if "@" in authority:
        return authority.rfind("@")
    _, colon, after = authority.partition(":")
    if not colon or _PORT.fullmatch(after) or "@" not in rest:
        return -1
    return rest.rfind("@")


def _clean_scheme(match: re.Match[str]) -> str:
    """`Bearer <credential>` → `Bearer ***`, but `token bucket` and `basic auth` stay."""
    if not _looks_like_credential(match["value"]):
        return match[0]
    return match["keep"] + MASK


def _looks_like_credential(value: str) -> bool:
    return (
        len(value) >= 16
        or any(c.isdigit() or c in "._~+/=-" for c in value)
        or (any(c.isupper() for c in value[1:]) and any(c.islower() for c in value))
    )


def _clean_key_value(match: re.Match[str]) -> str:
    """The key as it was, its value masked (keeping its quotes, if it had them)."""
    value = match["value"]
    if value.startswith('\\"'):
        masked = f'\\"{MASK}\\"' if match["escaped"] else f'\\"{MASK}'
    elif value[0] == '"':
        masked = f'"{MASK}"' if match["double"] else f'"{MASK}'
    elif value[0] == "'":
        masked = f"'{MASK}'" if match["single"] else f"'{MASK}"
    else:
        masked = MASK
    return match["keep"] + masked
