"""URLs of the services Cream talks to: which endpoint each client may contact, shown without secrets.

Every outside source goes through :func:`endpoint` — Alpaca, Polygon and Gemini today, and every
source added later must too: its adapter passes the override it was given (``CREAM_<SERVICE>_BASE_URL``)
and the provider's official URL, and builds its client on what comes back, never on the raw override.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from cream.errors import ConfigurationError

# What an override may be made of (a whitelist). Everything else — whitespace, control characters,
# non-ASCII, backslashes, %-escapes — is where URL parsers disagree about which host a URL names.
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/\[\]@?#-]+")
_PATH = re.compile(r"(/[A-Za-z0-9._~-]*)*")
_PORT = re.compile(r"[0-9]{1,5}")


def endpoint(variable: str, override: str | None, official: str) -> str:
    """The URL a client of this service may contact: ``official`` without an override (or when the
    override is the official URL itself); else the override, normalised, and only if it is a loopback
    URL (a stand-in for tests). ``variable`` names the setting in the one-line ``ConfigurationError``."""
    if override is None or override.rstrip("/") == official.rstrip("/"):
        return official
    try:
        return _loopback_url(override)
    except ValueError as exc:
        raise ConfigurationError(f"{variable} is refused: {exc}; an override must be a loopback URL like "
                                 f"http://127.0.0.1:8080, or unset it to use {official}") from None


def _loopback_url(url: str) -> str:
    """``url`` as ``scheme://host[:port][/path]`` if it names a loopback host, else ``ValueError`` (why)."""
    if not _URL_CHARS.fullmatch(url):
        raise ValueError("it is empty or has a character other than ASCII letters, digits and ._~:/[]-")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"it does not parse as a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not url.lower().startswith(f"{parts.scheme}://"):
        raise ValueError("its scheme must be http or https")
    if "@" in parts.netloc:
        raise ValueError("it has user credentials (@)")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError("it has a query or a fragment")
    if not _PATH.fullmatch(parts.path):
        raise ValueError("its path is not a plain /-separated path")
    host, port = _split_host_port(parts.netloc)
    return urlunsplit((parts.scheme, f"{_loopback_host(host)}{port}", parts.path.rstrip("/"), "", ""))


def _split_host_port(netloc: str) -> tuple[str, str]:
    """``(host, ":port" or "")``; the port must be 1–65535 in plain digits."""
    if netloc.startswith("["):
        host, bracket, rest = netloc.partition("]")
        host += bracket
    else:
        host, colon, port = netloc.partition(":")
        rest = colon + port
    if not rest:
        return host, ""
    port = rest[1:]
    if not rest.startswith(":") or not _PORT.fullmatch(port) or not 0 < int(port) <= 65535:
        raise ValueError("its port is not a number from 1 to 65535")
    return host, f":{int(port)}"


def _loopback_host(host: str) -> str:
    """``host`` if it is ``localhost``, an IPv4 address in 127.0.0.0/8 written plainly, or ``[::1]``."""
    if host == "localhost":
        return host
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        raise ValueError(f"its host {host!a} is not loopback") from None
    if address.version == 4 and address.is_loopback and literal == host == str(address):
        return host
    if address.version == 6 and address == ipaddress.IPv6Address("::1") and literal != host:
        return "[::1]"
    raise ValueError(f"its host {host!a} is not loopback")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user names stay: they help find the right account)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
