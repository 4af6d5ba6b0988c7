"""The project's only HTTP client: fetches under the safety rules, answers with FetchResult values.

Every socket is opened through flows/collect/transport.py, which resolves the host itself and
dials only addresses `flows.web.addresses.dialable` accepts: the check is on the address actually
dialled, on every redirect hop and every new connection, whatever spelling the URL used.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import re
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from flows.collect.transport import (
    Failure,
    GuardedBackend,
    Resolver,
    Transport,
    read_body,
    system_resolver,
)
from flows.config import FetchSettings
from warehouse.records import NOT_MODIFIED, OK, FetchResult

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Failures of the connection or the exchange; anything else is a bug and propagates.
_NETWORK_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpx.HTTPError,
    httpx.InvalidURL,
)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The certificate-verifying TLS context every Fetcher of this process shares: loading
    certifi's certificates into a new one costs ~30 ms of CPU (OpenSSL 3), and a run has two
    Fetchers (feeds, then pages). httpcore sets the same ALPN protocol on it at every TLS
    connection (HTTP/1.1: no pool here speaks HTTP/2); nothing else changes it."""
    return httpx.create_ssl_context(trust_env=False)


class Fetcher:
    """Async HTTP client with the project's safety rules. One per run."""

    def __init__(self, settings: FetchSettings, *, resolver: Resolver | None = None) -> None:
        self._settings = settings
        self._resolver = resolver or system_resolver
        self._client: httpx.AsyncClient | None = None
        self._all = asyncio.Semaphore(settings.max_connections)
        self._hosts: dict[tuple[str, int], asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        s = self._settings
        pool = httpcore.AsyncConnectionPool(
            ssl_context=tls_context(),
            max_connections=s.max_connections,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(s.private_allowlist(), self._resolver),
        )
        self._client = httpx.AsyncClient(
            transport=Transport(pool),
            trust_env=False,  # an environment proxy would make the dialled address unknowable
            follow_redirects=False,  # every hop is checked here
            timeout=httpx.Timeout(s.timeout_seconds, connect=s.connect_timeout_seconds),
            headers={"User-Agent": s.user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> FetchResult:
        """GET `url` (redirects followed); never raises for network, HTTP or policy failures."""
        started = time.monotonic()
        headers = {"Accept": accept}
        if etag and _header_safe(etag):
            headers["If-None-Match"] = etag
        if last_modified and _header_safe(last_modified):
            headers["If-Modified-Since"] = last_modified
        result = await self._chain(url, headers, max_bytes)
        wait = result.retry_after or 0.0
        if result.status == "rate_limited" and wait <= self._settings.max_retry_after_seconds:
            # Outside the deadline and the connection slots; a second refusal is final.
            await asyncio.sleep(wait)
            result = await self._chain(url, headers, max_bytes)
        return replace(result, elapsed_ms=int((time.monotonic() - started) * 1000))

    async def _chain(self, url: str, headers: dict[str, str], max_bytes: int) -> FetchResult:
        """One request and its redirects, under one deadline (time queued for a slot excluded)."""
        loop = asyncio.get_running_loop()
        budget = self._settings.timeout_seconds
        final: httpx.URL | None = None
        try:
            target = _checked(url)
            seen = {target}
            for _hop in range(self._settings.max_redirects + 1):
                final = target
                async with self._slot(target):
                    began = loop.time()
                    try:
                        async with asyncio.timeout(budget):
                            outcome = await self._exchange(target, headers, max_bytes)
                    except TimeoutError:
                        raise Failure("timeout", self._late()) from None
                    budget -= loop.time() - began
                if isinstance(outcome, FetchResult):
                    return replace(outcome, url=url, final_url=str(target))
                target = _checked(target.join(outcome))
                if target in seen:
                    raise Failure("too_many_redirects", "redirect loop")
                if budget <= 0:
                    raise Failure("timeout", self._late())
                seen.add(target)
            raise Failure("too_many_redirects", f"more than {self._settings.max_redirects}")
        except (*_NETWORK_ERRORS, Failure) as exc:
            status, reason = _classify(exc)
            return FetchResult(
                url=url,
                status=status,
                final_url=None if final is None else str(final),
                error=_scrub(reason),
            )

    def _late(self) -> str:
        return f"no complete answer within {self._settings.timeout_seconds:g} s"

    @asynccontextmanager
    async def _slot(self, url: httpx.URL) -> AsyncIterator[None]:
        """Hold a connection slot for this host (lowercased host and port) and a global one."""
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.raw_host.decode("ascii").lower(), port)
        host = self._hosts.setdefault(key, asyncio.Semaphore(self._settings.per_host_connections))
        async with host, self._all:
            yield

    async def _exchange(
        self, url: httpx.URL, headers: dict[str, str], max_bytes: int
    ) -> FetchResult | str:
        """One request: its FetchResult (url fields unset), or the Location it redirects to."""
        if self._client is None:
            raise RuntimeError("use the Fetcher as `async with Fetcher(settings) as fetcher`")
        request = self._client.build_request("GET", url, headers=headers)
        response = await self._client.send(request, stream=True)
        try:
            code = response.status_code
            location = response.headers.get("location")
            if code in _REDIRECTS and location:
                return str(location)
            common: dict[str, Any] = {"url": "", "http_status": code}
            if code in (429, 503):
                wait = _retry_after(response.headers.get("retry-after"))
                if wait is not None:
                    why = f"HTTP {code}, asked to wait {wait:.0f} s"
                    return FetchResult(status="rate_limited", retry_after=wait, error=why, **common)
            common |= {
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
            }
            if code == 304:
                return FetchResult(status=NOT_MODIFIED, **common)
            if not 200 <= code < 300:
                why = f"HTTP {code} {response.reason_phrase}".strip()
                return FetchResult(status=f"http_{code}", error=why, **common)
            body = await read_body(response, max_bytes)
            ctype = response.headers.get("content-type")
            return FetchResult(status=OK, body=body, content_type=ctype, **common)
        finally:
            await response.aclose()


def _checked(url: str | httpx.URL) -> httpx.URL:
    """The URL if it may be requested (absolute http/https, no credentials), else bad_url."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise Failure("bad_url", f"unparseable address ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Failure("bad_url", "not an absolute http:// or https:// address")
    if parsed.userinfo:
        raise Failure("bad_url", "address carries credentials, which are never sent")
    return parsed


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _classify(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, Failure):
        return exc.status, exc.reason
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpcore.TimeoutException | httpx.TimeoutException):
        return "timeout", text
    if isinstance(exc, httpcore.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:  # httpcore raises ConnectError from the ssl error
            if isinstance(cause, ssl.SSLError):
                return "tls_error", f"TLS handshake failed: {text}"
            cause = cause.__cause__ or cause.__context__
        return "connect_error", text
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol | httpcore.UnsupportedProtocol):
        return "bad_url", text
    return "read_error", f"connection failed during the exchange: {text}"


_USERINFO = re.compile(r"[^\s/?#@'\"]+@")


def _scrub(text: str) -> str:
    """Drop anything shaped like URL credentials (user:password@) from an error message."""
    return _USERINFO.sub("***@", text)


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()
