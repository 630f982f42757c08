"""Every HTTP request to Polygon, made through the official client with our rate limit and retry policy.

polygon-api-client 1.16 retries 429/5xx inside urllib3 without jitter or a shared limit, builds a
timeout it never passes on, and answers malformed JSON with an empty list. So the client is created
with its retries off and our timeout on its connection pools, it is only used with ``raw=True``,
and this module decodes the body itself:

* each request first takes a token from the shared ``RedisTokenBucket``;
* 429, 5xx and network errors are retried with exponential backoff and full jitter, at most
  ``max_retries`` times, then raise ``TransientError``;
* a body that is not a JSON object raises ``MalformedResponse`` (a ``TransientError``) at once;
* 401/403 raise ``ConfigurationError`` (the API key), 404 ``UnknownInstrument``, other 4xx
  ``RejectedDefinitively``.

The API key travels in the Authorization header only and is scrubbed from every message. The client
contacts ``POLYGON_URL`` or a loopback stand-in, nothing else (``cream.endpoints.endpoint``).
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlparse

import urllib3
from polygon import RESTClient
from polygon.exceptions import BadResponse
from urllib3.util.retry import Retry

from cream.endpoints import endpoint
from cream.errors import ConfigurationError, RejectedDefinitively, TransientError, UnknownInstrument

log = logging.getLogger(__name__)

POLYGON_URL = "https://api.polygon.io"
RETRY_STATUSES = frozenset({408, 413, 425, 429, 499, *range(500, 600)})
MAX_PAGES = 10_000


class MalformedResponse(TransientError):
    """Polygon answered with something that is not the JSON it documents: nothing was stored; retry later."""


class Limiter(Protocol):
    def acquire(self, timeout: float = ...) -> None: ...


class PolygonHttp:
    """The official ``RESTClient`` plus rate limit, timeout, retries and strict decoding."""

    def __init__(self, api_key: str, base_url: str | None, limiter: Limiter, *, timeout: float = 10.0,
                 max_retries: int = 5, backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 acquire_timeout: float = 60.0) -> None:
        if not api_key:
            raise ConfigurationError("no Polygon API key: set POLYGON_API_KEY")
        self._secret = api_key
        self.base_url = endpoint("CREAM_POLYGON_BASE_URL", base_url, POLYGON_URL)
        self.limiter, self.max_retries = limiter, max_retries
        self.backoff_base, self.backoff_cap, self.acquire_timeout = backoff_base, backoff_cap, acquire_timeout
        self.client = RESTClient(api_key=api_key, base=self.base_url, connect_timeout=timeout,
                                 read_timeout=timeout, retries=0, pagination=False)
        # Pools are created lazily from these keywords: every request gets our timeout and no retry
        # but one raising MaxRetryError on a retryable status (so the status is known).
        pool_kw = self.client.client.connection_pool_kw
        pool_kw["timeout"] = urllib3.Timeout(connect=timeout, read=timeout)
        pool_kw["retries"] = Retry(total=0, status_forcelist=RETRY_STATUSES, raise_on_status=True,
                                   respect_retry_after_header=False, redirect=0)
        self.requests = 0  # HTTP requests sent by this instance, retries included

    def __repr__(self) -> str:
        return f"PolygonHttp({self.base_url!r})"

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***")

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** attempt))

    def get(self, what: str, send: Callable[[], Any]) -> dict[str, Any]:
        """One request (``send`` calls a client method with ``raw=True``), decoded to a JSON object."""
        attempt = 0
        while True:
            self.limiter.acquire(self.acquire_timeout)
            self.requests += 1
            try:
                response = send()
            except urllib3.exceptions.MaxRetryError as exc:
                reason = self._scrub(str(exc.reason))
                status = re.search(r"too many (\d{3}) error", reason)
                problem = f"HTTP {status.group(1)}" if status else f"network error ({reason})"
            except urllib3.exceptions.HTTPError as exc:
                problem = f"network error ({self._scrub(str(exc))})"
            except BadResponse as exc:
                raise self._rejection(what, self._scrub(str(exc))) from None
            else:
                return self._decode(what, response.data)
            if attempt >= self.max_retries:
                raise TransientError(f"Polygon {what}: {problem} after {attempt + 1} attempts: retry later")
            pause = self._backoff(attempt)
            log.warning("Polygon %s: %s; retry %d/%d in %.2fs", what, problem, attempt + 1, self.max_retries, pause)
            time.sleep(pause)
            attempt += 1

    def _decode(self, what: str, body: bytes) -> dict[str, Any]:
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedResponse(f"Polygon {what}: the response is not valid JSON ({exc}; "
                                    f"{len(body)} bytes): nothing was stored, retry later") from None
        if not isinstance(decoded, dict):
            raise MalformedResponse(f"Polygon {what}: expected a JSON object, got {type(decoded).__name__}: "
                                    "nothing was stored, retry later")
        if str(decoded.get("status", "OK")).upper() == "ERROR":
            raise RejectedDefinitively(f"Polygon {what}: {self._scrub(str(decoded.get('error', decoded)))}")
        return decoded

    def _rejection(self, what: str, body: str) -> Exception:
        try:
            decoded = json.loads(body)
            status = str(decoded.get("status", "")).upper() if isinstance(decoded, dict) else ""
            message = str(decoded.get("message") or decoded.get("error") or body) if status else body
        except ValueError:
            status, message = "", body
        if status in {"NOT_AUTHORIZED", "AUTH_ERROR", "UNAUTHORIZED", "FORBIDDEN"}:
            return ConfigurationError(f"Polygon refused the API key for {what} ({message}): "
                                      "check POLYGON_API_KEY and the plan's entitlements")
        if status == "NOT_FOUND":
            return UnknownInstrument(f"Polygon {what}: not found ({message})")
        return RejectedDefinitively(f"Polygon {what}: rejected ({message[:300]})")

    def pages(self, what: str, first: Callable[[], Any],
              follow: Callable[[str, dict[str, str]], Any]) -> Iterator[dict[str, Any]]:
        """Each page of a paginated answer, following ``next_url``; ``follow(path, query)`` sends
        the request for the next page through the client."""
        page = self.get(what, first)
        for _ in range(MAX_PAGES):
            yield page
            next_url = page.get("next_url")
            if not next_url:
                return
            if not isinstance(next_url, str):
                raise MalformedResponse(f"Polygon {what}: next_url is not a URL: nothing was stored")
            parsed = urlparse(next_url)
            query = dict(parse_qsl(parsed.query))
            query.pop("apiKey", None)  # the key goes in the header, never in a logged URL
            page = self.get(what, functools.partial(follow, parsed.path, query))
        raise TransientError(f"Polygon {what}: more than {MAX_PAGES} pages: narrow the request")
