"""The site: its root URL checked before the first request, where the token may go, and what the site
says it can do ([`Capabilities`][ckan_api_client.core.site.Capabilities])."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import exceptions as exc
from .calls import ACTION_PREFIX
from .options import Secret

_API_SUFFIX = re.compile(r"/api(/\d+)?(/action(/[A-Za-z_]*)?)?/?$")



def site_root(base_url: str) -> str:
    """The validated root URL of a CKAN site (no trailing slash); [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] otherwise, in one
    line that says what is wrong: no scheme, no host, a port that is not a number, an API address."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise exc.InvalidInput("the site URL is empty: give the portal's address, e.g. https://demo.ckan.org")
    text = base_url.strip()
    try:
        parts = urlsplit(text)
    except ValueError as error:  # an unclosed "[" of an IPv6 host, for one
        raise exc.InvalidInput(f"{text!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        if "://" not in text:
            raise exc.InvalidInput(f"{text!r} has no scheme: give the site's URL with it, e.g. 'https://{text}'")
        raise exc.InvalidInput(f"{text!r} is not an http(s) URL")
    try:
        port = parts.port
    except ValueError:
        raise exc.InvalidInput(f"{text!r} has no valid port: after the host's ':' comes a number from 1 to "
                               "65535") from None
    if not parts.hostname or port == 0 or any(c.isspace() for c in text):
        raise exc.InvalidInput(f"{text!r} is not a usable site URL (no host, port 0, or a space in it)")
    if parts.query or parts.fragment:
        root = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        raise exc.InvalidInput(f"{text!r} has a query or a fragment: give the site's root URL, e.g. {root!r}")
    api_suffix = _API_SUFFIX.search(parts.path)
    if api_suffix:
        root = f"{parts.scheme}://{parts.netloc}{parts.path[:api_suffix.start()]}"
        raise exc.InvalidInput(f"{text!r} is an API address: give the site's root URL instead, e.g. {root!r}")
    return text.rstrip("/")


def not_a_site_root(url: str | None) -> str:
    """What to add to an error whose answer is not CKAN's API at all: the URL is not a CKAN site root."""
    if not url:
        return ""
    parts = urlsplit(url)
    path = parts.path
    if ACTION_PREFIX in path:
        path = path[:path.index(ACTION_PREFIX)]
    root = f"{parts.scheme}://{parts.netloc}{path}".rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    hint = f"try {origin!r}" if root != origin else "check the address: it may not be a CKAN portal"
    return f"; {root} does not answer as a CKAN site root (no Action API under /api/3/action/): {hint}"


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token_transport(base_url: str, api_key: Secret | None, allow_insecure_http: bool) -> None:
    """Refuse to send a token over plain http to a host that is not loopback, unless allowed."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if api_key is not None and parts.scheme == "http" and not is_loopback(host) and not allow_insecure_http:
        raise exc.InvalidInput(
            f"refusing to send an API token over plain http to {host}: use https, or pass "
            "allow_insecure_http=True if you accept that anyone on the path can read it")


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    try:
        return ((a.hostname or "").lower(), a.port, a.scheme) == ((b.hostname or "").lower(), b.port, b.scheme)
    except ValueError:  # a port that is not a number: not the site's origin
        return False


def same_site(one: str, other: str) -> bool:
    """Whether two site root URLs name one CKAN: the same scheme, host, port (80 and 443 when not given) and
    path, whatever the case of the host or a final ``/``."""
    def key(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        return parts.scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/")
    return key(one) == key(other)



def url_for(base_url: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return base_url + "/" + path.lstrip("/")


# ---------------------------------------------------------------- what the site can do


@dataclass(frozen=True)
class Capabilities:
    """What a CKAN site says of itself in ``status_show``."""

    ckan_version: str
    extensions: frozenset[str]

    @classmethod
    def from_status(cls, status: Any) -> Capabilities:
        if not isinstance(status, dict) or not isinstance(status.get("ckan_version"), str):
            raise exc.BadApiError("status_show did not give a ckan_version", action="status_show")
        return cls(status["ckan_version"], frozenset(map(str, status.get("extensions") or [])))

    @property
    def version(self) -> tuple[int, ...]:
        """The CKAN version as numbers: ``"2.11.0a"`` gives ``(2, 11, 0)``."""
        numbers = []
        for part in self.ckan_version.split("."):
            digits = re.match(r"\d+", part)
            if not digits:
                break
            numbers.append(int(digits.group()))
        return tuple(numbers)

    def at_least(self, *version: int) -> bool:
        return self.version >= tuple(version)

    def has_extension(self, name: str) -> bool:
        return name in self.extensions

