"""Below the Fetcher: the socket layer that checks every address it dials, and body reading
that caps decoded bytes while streaming (a gzip bomb stops at the cap, not in memory).

Every socket is opened by `GuardedBackend.connect_tcp`, which resolves the host itself and
dials only addresses `flows.web.addresses.dialable` accepts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx
from httpcore._utils import is_socket_readable

from flows.web.addresses import Allowlist, dialable
from warehouse.errors import NewswatchError

Resolver = Callable[[str, int], Awaitable[list[str]]]


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
    # Joined once at the end: a growing buffer would copy a page's bytes several times over
    pieces: list[bytes] = []
    size = 0
    # Raw bytes: httpx's own decoder may inflate one network chunk into a huge buffer.
    async for chunk in response.aiter_raw():
        piece = inflate.feed(chunk, max_bytes - size + 1) if inflate else chunk
        size += len(piece)
        if size > max_bytes:
            raise Failure("too_large", f"body is over the {max_bytes}-byte cap")
        pieces.append(piece)
    if inflate:
        rest = inflate.end()
        size += len(rest)
        if size > max_bytes:
            raise Failure("too_large", f"body is over the {max_bytes}-byte cap")
        pieces.append(rest)
    return b"".join(pieces)


class _Inflate:
    """gzip/zlib/raw deflate, decoded chunk by chunk, never past a limit."""

    def __init__(self) -> None:
        self._head = b""
        self._z: Any = None  # zlib's decompressor type is not importable for annotation

    def feed(self, data: bytes, limit: int) -> bytes:
        """What `data` decodes to, at most `limit` bytes. read_body passes what is left of its
        cap plus one: a piece of `limit` bytes means the body is over the cap, and the input
        left undecoded is never needed."""
        if self._z is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            self._z = zlib.decompressobj(_wbits(data))
        if self._z.eof:  # anything after the end of the stream is ignored
            return b""
        try:
            decoded: bytes = self._z.decompress(data, limit)
        except zlib.error as exc:
            raise Failure("bad_encoding", f"compressed body is corrupt ({exc})") from None
        return decoded

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
        self._inner = AsyncioBackend()
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


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer on asyncio's own streams: what httpcore's anyio backend does,
    without anyio's cancel scopes and attribute lookups on every read, write and pool check
    (measured: a quarter of the HTTP client's CPU on loopback). Dials what it is given:
    GuardedBackend checks the address first."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=None if local_address is None else (local_address, 0)
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():  # asyncio sets TCP_NODELAY itself
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never dialled")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection as httpcore sees it, on an asyncio StreamReader/StreamWriter pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)  # b"" at the end: as anyio's
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                if self._writer.is_closing():
                    raise httpcore.WriteError("the connection is closed")
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        self._writer.close()  # not waited for: a TLS peer may never answer the close

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._writer.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except OSError as exc:  # ssl.SSLError included: fetch.py tells a TLS failure by it
            self._writer.close()
            if not isinstance(exc, ssl.SSLError) and exc.errno is None:
                # a peer that hangs up mid-handshake: asyncio says ConnectionResetError()
                # without an errno, the ssl module (so anyio) an SSLEOFError. Raised inside
                # its handler: httpcore's pool re-raises `from None`, only __context__ stays.
                try:
                    raise ssl.SSLEOFError(8, "EOF in the TLS handshake: the peer hung up")
                except ssl.SSLError as eof:
                    raise httpcore.ConnectError(str(eof)) from eof
            raise httpcore.ConnectError(str(exc)) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":  # an idle connection that is readable was closed or broken
            if self._reader.at_eof() or self._writer.is_closing():
                return True
            return is_socket_readable(self._writer.get_extra_info("socket"))
        return None


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
