"""A small asyncio HTTP/1.1 client for the gateway's calls to one component, with keep-alive reuse.

Failures become :class:`UpstreamError` naming the component, so the gateway can answer 503.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

MAX_IDLE = 16


class UpstreamError(Exception):
    """A component that is unavailable (refused, reset) or too slow (timeout)."""

    def __init__(self, component: str, kind: str, message: str):
        super().__init__(message)
        self.component = component
        self.kind = kind


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    body: bytes


class _StaleConnection(Exception):
    """A reused keep-alive connection the server had already closed; retry on a fresh one."""


class Upstream:
    """HTTP calls to one component at ``host:port``, each bounded by ``timeout`` seconds."""

    def __init__(self, name: str, host: str, port: int, timeout: float = 2.0):
        self.name = name
        self.host = host
        self.port = int(port)
        self.timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._host_header = f"Host: {host}:{port}\r\n".encode()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def request(self, method: str, path: str, body: bytes = b"",
                      timeout: float | None = None) -> UpstreamResponse:
        """Send one request; raise :class:`UpstreamError` if the component is down or slow."""
        timeout = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._request(method, path, body)
        except TimeoutError:
            raise UpstreamError(self.name, "timeout",
                                f"component {self.name!r} did not answer within {timeout:g} s") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise UpstreamError(self.name, "unavailable",
                                f"component {self.name!r} at {self.host}:{self.port} is unavailable "
                                f"({type(exc).__name__}: {exc})") from None

    async def _request(self, method: str, path: str, body: bytes) -> UpstreamResponse:
        head = (f"{method} {path} HTTP/1.1\r\n".encode() + self._host_header
                + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        while self._idle:
            reader, writer = self._idle.pop()
            try:
                return await self._exchange(reader, writer, head + body, reused=True)
            except _StaleConnection:
                continue
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self._exchange(reader, writer, head + body, reused=False)

    async def _exchange(self, reader, writer, payload: bytes, reused: bool) -> UpstreamResponse:
        keep = False
        try:
            writer.write(payload)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                if reused and not getattr(exc, "partial", b""):
                    raise _StaleConnection() from None
                raise ConnectionResetError("connection closed before a response") from None
            status_line, *lines = head[:-4].split(b"\r\n")
            version, status = status_line.split(b" ", 2)[:2]
            headers = {}
            for line in lines:
                key, _, value = line.partition(b":")
                headers[key.strip().lower()] = value.strip()
            if b"content-length" in headers:
                body = await reader.readexactly(int(headers[b"content-length"]))
                keep = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
            elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = await _read_chunked(reader)
                keep = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
            else:
                body = await reader.read()
            return UpstreamResponse(int(status), body)
        finally:
            if keep and len(self._idle) < MAX_IDLE:
                self._idle.append((reader, writer))
            else:
                writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
