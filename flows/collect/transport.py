"""Below the Fetcher: the socket layer that checks every address it dials, and body reading
that caps decoded bytes while streaming (a gzip bomb stops at the cap, not in memory).

Every socket is opened by `GuardedBackend.connect_tcp`, which resolves the host itself and
dials only addresses `flows.web.addresses.dialable` accepts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import httpcore
import httpx

from flows.web.addresses import Allowlist, dialable
from warehouse.errors import NewswatchError

Resolver = Callable[[str, int], Awaitable[list[str]]]
_STEP = 64 * 1024  # most decoded bytes produced from compressed input at once


class Failure(NewswatchError):
    """A fetch ending in a failure class; raised inside this module, returned as a FetchResult."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, or Failure once it would exceed `max_bytes` decoded bytes."""
    coding = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    coding = [c for c in coding if c and c != "identity"]
    if coding and coding not in (["gzip"], ["x-gzip"], ["deflate"]):
        raise Failure("bad_encoding", f"unsupported Content-Encoding {', '.join(coding)}")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise Failure("too_large", f"Content-Length {length} is over the {max_bytes}-byte cap")
    inflate = _Inflate() if coding else None
    body = bytearray()
    # Raw bytes: httpx's own decoder may inflate one network chunk into a huge buffer.
    async for chunk in response.aiter_raw():
        for piece in inflate.feed(chunk) if inflate else (chunk,):
            body += piece
            if len(body) > max_bytes:
                raise Failure("too_large", f"body is over the {max_bytes}-byte cap")
    if inflate:
        body += inflate.end()
        if len(body) > max_bytes:
            raise Failure("too_large", f"body is over the {max_bytes}-byte cap")
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
                raise Failure("bad_encoding", f"compressed body is corrupt ({exc})") from None
            data = self._z.unconsumed_tail

    def end(self) -> bytes:
        if self._z is None:
            if self._head:
                raise Failure("read_error", "compressed body ended early")
            return b""
        rest: bytes = self._z.flush()  # small: every input byte has already been decompressed
        if not self._z.eof:
            raise Failure("read_error", "compressed body ended early")
        return rest


def _wbits(start: bytes) -> int:
    """Servers label zlib, gzip and raw deflate streams loosely: tell them apart by the header."""
    if start[:2] == b"\x1f\x8b":
        return 16 + zlib.MAX_WBITS
    if start[0] & 0x0F == 8 and (start[0] << 8 | start[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
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
            raise Failure(
                "refused_address",
                f"{shown} is not a public address; to fetch it anyway, allow it in sources.yaml: "
                f'fetch: allow_private_addresses: ["{addresses[0]}"]',
            )
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
            raise Failure("dns_error", f"cannot resolve {host}: {exc}") from None
        if not found:
            raise Failure("dns_error", f"{host} has no address")
        return found


class Transport(httpx.AsyncBaseTransport):
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
