"""The project's only HTTP client: fetches under the safety rules, answers with FetchResult values.

Every socket is opened by `_GuardedBackend.connect_tcp`, which resolves the host itself and
dials only addresses `flows.web.addresses.dialable` accepts: the check is on the address actually
dialled, on every redirect hop and every new connection, whatever spelling the URL used.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import re
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from flows.config import FetchSettings
from flows.web.addresses import Allowlist, dialable
from warehouse.errors import NewswatchError
from warehouse.records import NOT_MODIFIED, OK, FetchResult

Resolver = Callable[[str, int], Awaitable[list[str]]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_STEP = 64 * 1024  # most decoded bytes produced from compressed input at once
# Failures of the connection or the exchange; anything else is a bug and propagates.
_NETWORK_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpx.HTTPError,
    httpx.InvalidURL,
)


class _Failure(NewswatchError):
    """A fetch ending in a failure class; raised inside this module, returned as a FetchResult."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Fetcher:
    """Async HTTP client with the project's safety rules. One per run."""

    def __init__(self, settings: FetchSettings, *, resolver: Resolver | None = None) -> None:
        self._settings = settings
        self._resolver = resolver or _system_resolver
        self._client: httpx.AsyncClient | None = None
        self._all = asyncio.Semaphore(settings.max_connections)
        self._hosts: dict[tuple[str, int], asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        s = self._settings
        pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=s.max_connections,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(s.private_allowlist(), self._resolver),
        )
        self._client = httpx.AsyncClient(
            transport=_Transport(pool),
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
                        raise _Failure("timeout", self._late()) from None
                    budget -= loop.time() - began
                if isinstance(outcome, FetchResult):
                    return replace(outcome, url=url, final_url=str(target))
                target = _checked(target.join(outcome))
                if target in seen:
                    raise _Failure("too_many_redirects", "redirect loop")
                if budget <= 0:
                    raise _Failure("timeout", self._late())
                seen.add(target)
            raise _Failure("too_many_redirects", f"more than {self._settings.max_redirects}")
        except (*_NETWORK_ERRORS, _Failure) as exc:
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
            body = await _read_body(response, max_bytes)
            ctype = response.headers.get("content-type")
            return FetchResult(status=OK, body=body, content_type=ctype, **common)
        finally:
            await response.aclose()


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, or _Failure once it would exceed `max_bytes` decoded bytes."""
    coding = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    coding = [c for c in coding if c and c != "identity"]
    if coding and coding not in (["gzip"], ["x-gzip"], ["deflate"]):
        raise _Failure("bad_encoding", f"unsupported Content-Encoding {', '.join(coding)}")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _Failure("too_large", f"Content-Length {length} is over the {max_bytes}-byte cap")
    inflate = _Inflate() if coding else None
    body = bytearray()
    # Raw bytes: httpx's own decoder may inflate one network chunk into a huge buffer.
    async for chunk in response.aiter_raw():
        for piece in inflate.feed(chunk) if inflate else (chunk,):
            body += piece
            if len(body) > max_bytes:
                raise _Failure("too_large", f"body is over the {max_bytes}-byte cap")
    if inflate:
        body += inflate.end()
        if len(body) > max_bytes:
            raise _Failure("too_large", f"body is over the {max_bytes}-byte cap")
    return bytes(body)


class _Inflate:
    """gzip/zlib/raw deflate, decoded at most _STEP bytes at a time."""

    def __init__(self) -> None:
        self._head = b""
        self._z: Any = None  # zlib's decompressor type is not importable for annotation

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._z = zlib.decompressobj(_wbits(data))
        while data and not self._z.eof:
            try:
                yield self._z.decompress(data, _STEP)
            except zlib.error as exc:
                raise _Failure("bad_encoding", f"compressed body is corrupt ({exc})") from None
            data = self._z.unconsumed_tail

    def end(self) -> bytes:
        if self._z is None:
            if self._head:
                raise _Failure("read_error", "compressed body ended early")
            return b""
        rest: bytes = self._z.flush()  # small: every input byte has already been decompressed
        if not self._z.eof:
            raise _Failure("read_error", "compressed body ended early")
        return rest


def _wbits(start: bytes) -> int:
    """Servers label zlib, gzip and raw deflate streams loosely: tell them apart by the header."""
    if start[:2] == b"\x1f\x8b":
        return 16 + zlib.MAX_WBITS
    if start[0] & 0x0F == 8 and (start[0] << 8 | start[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


def _checked(url: str | httpx.URL) -> httpx.URL:
    """The URL if it may be requested (absolute http/https, no credentials), else bad_url."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _Failure("bad_url", f"unparseable address ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _Failure("bad_url", "not an absolute http:// or https:// address")
    if parsed.userinfo:
        raise _Failure("bad_url", "address carries credentials, which are never sent")
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
    if isinstance(exc, _Failure):
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


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving hosts itself and dialling only allowed addresses."""

    def __init__(self, allow: Allowlist, resolver: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow = allow
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        allowed = [a for a in addresses if dialable(a, self._allow)]
        if not allowed:
            shown = addresses[0] if addresses[0] == host else f"{host} ({addresses[0]})"
            raise _Failure("refused_address", f"{shown} is not a public address")
        error: httpcore.ConnectError | None = None
        for address in allowed:  # the IP literal: what was checked is what is dialled
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            ipaddress.ip_address(host)
            return [host]  # an IP literal is dialled as written
        except ValueError:
            pass
        try:
            found = list(await self._resolver(host, port))
        except OSError as exc:
            raise _Failure("dns_error", f"cannot resolve {host}: {exc}") from None
        if not found:
            raise _Failure("dns_error", f"{host} has no address")
        return found


class _Transport(httpx.AsyncBaseTransport):
    """httpx's transport seam around our own httpcore pool (httpx's cannot take a backend)."""

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        response = await self._pool.handle_async_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Stream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _Stream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        await self._stream.aclose()
