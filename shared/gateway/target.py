"""Where a request goes: the URL it names, and the checked address it is pinned to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import httpx

from shared.errors import PermanentError
from shared.gateway.errors import RefusedDestinationError
from shared.gateway.policy import EndpointPolicy
from shared.gateway.ssrf import literal_address

_ABSOLUTE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
DEFAULT_PORTS = {"http": 80, "https": 443}


def target_url(policy: EndpointPolicy, path: str) -> httpx.URL:
    """The URL for `path`: relative to the endpoint's base URL, or absolute."""
    if _ABSOLUTE.match(path):
        raw = path
    elif not path or path.startswith("?"):
        raw = policy.base_url + path
    else:
        raw = policy.base_url.rstrip("/") + "/" + path.lstrip("/")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as error:
        raise PermanentError(f"{policy.name}: not a valid URL ({error})") from error
    if url.scheme not in DEFAULT_PORTS or not url.host:
        raise RefusedDestinationError(f"{policy.name}: unsupported URL scheme {url.scheme!r}")
    if url.userinfo:
        raise RefusedDestinationError(f"{policy.name}: URLs must not carry user:password@")
    if policy.auth != "none" and _origin(url) != _origin(httpx.URL(policy.base_url)):
        # An absolute URL elsewhere (say a `next` link) must not receive this endpoint's secrets.
        raise RefusedDestinationError(f"{policy.name}: credentials go only to the base origin")
    return url


def display_path(url: httpx.URL, policy: EndpointPolicy) -> str:
    """The path to show in logs and errors: below the base URL, without the query string."""
    # Webhook URLs often carry their secret in the path, so the base URL's own path stays out.
    base = httpx.URL(policy.base_url)
    prefix = base.path.rstrip("/")
    if _origin(url) == _origin(base) and (url.path + "/").startswith(prefix + "/"):
        return "/" + url.path[len(prefix) :].lstrip("/")
    return url.path


def url_origin(url: str | httpx.URL) -> str:
    """`scheme://host[:port]` of a URL, for display: path, query and user:password@ dropped."""
    # Webhook URLs often carry their secret in the path or the query string.
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def port_of(url: httpx.URL) -> int:
    """The port the URL connects to."""
    return url.port or DEFAULT_PORTS[url.scheme]


@dataclass(frozen=True, slots=True)
class Pinned:
    """A URL rewritten to connect to a checked address, with what keeps its identity."""

    url: httpx.URL
    host_header: str
    extensions: Mapping[str, str]  # shared between calls: read, never changed


@lru_cache(maxsize=1024)  # ~14 µs to rebuild a URL, for the same few per destination
def pin(url: httpx.URL, address: str) -> Pinned:
    """Connect to `address` while presenting the original host in `Host` and TLS SNI."""
    host = url.raw_host.decode("ascii")
    extensions: dict[str, str] = {}
    if url.scheme == "https" and literal_address(host) is None:
        # The certificate is then verified for the host name, not for the address.
        extensions["sni_hostname"] = host
    return Pinned(
        url.copy_with(host=address), url.netloc.decode("ascii"), MappingProxyType(extensions)
    )


def _origin(url: httpx.URL) -> tuple[str, bytes, int]:
    return (url.scheme, url.raw_host, port_of(url))
