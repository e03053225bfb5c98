"""Downloading one file version: its body streamed into a temporary file of the blob store,
hashed (SHA-256) on the way, its type read from its first bytes, its provenance recorded.

A fetch ends in a :class:`Fetched` whose ``status`` is

- ``complete``: the whole body is in ``temp`` (a finished temporary file for
  :meth:`~monitor.archive.blobs.BlobStore.put`), as long as the listing said;
- ``changed``: the body was not what the listing promised (another size, from the listing
  or from ``Content-Length``; a ``Last-Modified`` that says the file changed since; for a
  local file, another size or mtime, before or while it was read); nothing is kept;
- ``failed``: it could not be fetched (a status other than 200, a redirect, a connection
  cut, refused or timed out after the target's retries, a body cut short); nothing is kept.

Failures are data: a fetch raises only :class:`~monitor.errors.BlobStoreError` (the store's
folder is full or not writable), which stops the whole archive run.

http targets: ``GET`` on the version's URL with the target's headers, auth, TLS settings,
CA bundle, client certificate and User-Agent, proxies from the environment (the crawl's
:class:`~monitor.crawl.Clients`, one kept-alive connection per worker), at most ``rate``
request starts a second (the crawl's :class:`~monitor.crawl.Pacer`), ``retries`` tries after
a connection error, a cut body, 429 or 5xx with the crawl's backoff and ``Retry-After``.
Redirects are not followed (a redirect could leave the target's root). ``Accept-Encoding:
identity`` asks for the bytes as stored; what comes is kept as it comes (``aiter_raw``).
A download may be silent ``[archive] timeout`` at most.

local targets: the file is reached from the root through real folders only (``O_NOFOLLOW``
at every level; a symlink the listing shows as a file is followed only when it resolves
inside the root), opened only when it is a regular file, and read in a worker thread.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import io
import json
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import httpx

from monitor.archive.blobs import CHUNK_SIZE, BlobStore
from monitor.archive.blobs.base import os_error_message
from monitor.archive.filetype import HEAD_BYTES, detect_type
from monitor.config import HttpTarget, LocalTarget
from monitor.crawl import (
    Clients,
    CrawlLimits,
    CrawlStats,
    Pacer,
    Timing,
    connect_reason,
    retry_after,
    seconds_text,
    shown,
    size_text,
    status_reason,
)
from monitor.crawl.pacing import backoff
from monitor.errors import BlobStoreError

#: What a Last-Modified may differ from the listing's mtime by (listings show minutes).
MTIME_TOLERANCE = 60
#: The most a Retry-After is waited for within one archive run (longer: retried next poll).
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class Wanted:
    """One version to fetch, with what the listing said of it."""

    version_id: int
    path: str
    url: str
    size: int | None
    mtime_ns: int | None
    #: Tries already made for this version (0: this is the first).
    attempts: int = 0
    #: The most bytes kept when the listing gave no size (``max_file_size``).
    max_size: int | None = None

    def cap(self) -> tuple[int | None, str, str]:
        """The most bytes to read, and the status and reason when more come."""
        if self.size is not None:
            return self.size, "changed", f"longer than the {size_text(self.size)} listed"
        limit = self.max_size
        return limit, "skipped", f"larger than max_file_size ({size_text(limit or 0)})"


@dataclass(slots=True)
class Fetched:
    """What one try to fetch a version came to (see the module docstring)."""

    wanted: Wanted
    status: str
    fetched_at: datetime
    size: int | None = None
    sha256: str | None = None
    mime: str | None = None
    description: str | None = None
    http_status: int | None = None
    headers: dict[str, str | list[str]] | None = None
    ip: str | None = None
    tls_fingerprint: str | None = None
    error: str | None = None
    temp: Path | None = field(default=None, repr=False)

    @property
    def headers_json(self) -> str | None:
        return None if self.headers is None else json.dumps(self.headers, ensure_ascii=True)


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class _TooLong(Exception):
    """More bytes came than the listing promised (or than ``max_file_size``)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Body:
    """Bytes written to a temporary file as they come: SHA-256, size, the first bytes.

    More than the wanted version's cap is :class:`_TooLong`; a write the disk refuses is
    :class:`BlobStoreError`.
    """

    __slots__ = ("_file", "cap", "digest", "head", "over", "size", "where")

    def __init__(self, file: BinaryIO, wanted: Wanted, where: str) -> None:
        self._file = file
        self.cap, *self.over = wanted.cap()
        self.where = where
        self.digest = hashlib.sha256()
        self.head = b""
        self.size = 0

    def write(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.cap is not None and self.size > self.cap:
            raise _TooLong(*self.over)
        if len(self.head) < HEAD_BYTES:
            self.head += bytes(chunk[: HEAD_BYTES - len(self.head)])
        self.digest.update(chunk)
        try:
            self._file.write(chunk)
        except OSError as exc:
            raise BlobStoreError(os_error_message(exc, f"cannot write to {self.where}")) from exc

    def finish(self, fetched: Fetched, path: Path) -> Fetched:
        fetched.size = self.size
        fetched.sha256 = self.digest.hexdigest()
        fetched.mime, fetched.description = detect_type(self.head)
        fetched.temp = path
        fetched.status = "complete"
        return fetched


def _differs(expected: int | None, got: int) -> str | None:
    if expected is not None and got != expected:
        return f"{size_text(got)} received, the listing showed {size_text(expected)}"
    return None


def response_headers(headers: httpx.Headers) -> dict[str, str | list[str]]:
    """The headers as received: lower-case names; a repeated header as a list."""
    kept: dict[str, str | list[str]] = {}
    for name, value in headers.multi_items():
        before = kept.get(name)
        if before is None:
            kept[name] = value
        elif isinstance(before, list):
            before.append(value)
        else:
            kept[name] = [before, value]
    return kept


def _peer(response: httpx.Response, fetched: Fetched) -> None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return
    address = stream.get_extra_info("server_addr")
    fetched.ip = str(address[0]) if address else None
    tls = stream.get_extra_info("ssl_object")
    cert = tls.getpeercert(binary_form=True) if tls is not None else None
    if cert:
        fetched.tls_fingerprint = hashlib.sha256(cert).hexdigest()


def modified_since_listing(last_modified: str | None, mtime_ns: int | None) -> str | None:
    """Why a ``Last-Modified`` says the file changed since it was listed, or None.

    Listings show times to the minute, in a time zone set per target; a difference within a
    minute, or within a minute of a whole number of quarter hours (a time zone's offset), is
    not a change.
    """
    if not last_modified or mtime_ns is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = abs(when.timestamp() - mtime_ns / 1e9)
    offset = min(delta % 900, 900 - delta % 900)
    if delta <= MTIME_TOLERANCE or (delta <= 26 * 3600 and offset <= MTIME_TOLERANCE):
        return None
    return f"Last-Modified {shown(last_modified)} is not the listing's time"


class HttpFetcher:
    """Fetches versions of an http target: ``concurrency`` workers, each with its client."""

    def __init__(
        self,
        target: HttpTarget,
        store: BlobStore,
        *,
        timeout: float,
        timing: Timing | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        from monitor.sources.http import client_options  # the crawl imports monitor.sources

        self.target = target
        self.store = store
        self.timing = timing or Timing()
        self.now = now
        self.limits = CrawlLimits(
            concurrency=target.concurrency, rate=target.rate, retries=target.retries,
            timeout=timeout,
        )  # fmt: skip
        self.stats = CrawlStats()
        self.clients = Clients(self.limits, client_options(target), self.stats)
        self.pacer = Pacer(target.rate, self.timing)

    @property
    def concurrency(self) -> int:
        return self.target.concurrency

    async def aclose(self) -> None:
        await self.clients.aclose()

    async def fetch(self, wanted: Wanted, worker: int) -> Fetched:
        """One try (with the target's retries) to fetch ``wanted``."""
        client = self.clients.client(worker)
        reason = ""
        for attempt in range(self.limits.retries + 1):
            await self.pacer.wait()
            fetched = Fetched(wanted, "failed", self.now())
            try:
                return await self._get(client, fetched)
            except _Retryable as exc:
                reason = exc.reason
                if attempt < self.limits.retries:
                    delay = backoff(attempt, self.timing.random)
                    if exc.wait is not None:
                        delay = max(delay, min(exc.wait, MAX_RETRY_AFTER))
                    await self.timing.sleep(delay)
        fetched.error = f"{reason} (after {self.limits.retries + 1} tries)"
        return fetched

    async def _get(self, client: httpx.AsyncClient, fetched: Fetched) -> Fetched:
        url = fetched.wanted.url
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        try:
            async with client.stream("GET", url, headers=headers) as response:
                return await self._read(response, fetched)
        except (httpx.ConnectError, httpx.ProxyError) as exc:
            reason, again = connect_reason(exc)
            if not again:
                fetched.error = reason
                return fetched
            raise _Retryable(reason) from exc
        except httpx.TimeoutException as exc:
            raise _Retryable(f"silent for {seconds_text(self.limits.timeout)}") from exc
        except httpx.TransportError as exc:
            raise _Retryable(connect_reason(exc)[0]) from exc
        except httpx.InvalidURL:
            fetched.error = f"invalid URL {shown(url)}"
            return fetched

    async def _read(self, response: httpx.Response, fetched: Fetched) -> Fetched:
        wanted = fetched.wanted
        fetched.http_status = response.status_code
        fetched.headers = response_headers(response.headers)
        _peer(response, fetched)
        status = response.status_code
        if status == 429 or 500 <= status <= 599:
            wait = retry_after(response.headers, self.timing.wall, cap=MAX_RETRY_AFTER)
            raise _Retryable(status_reason(status), wait)
        if status != 200:
            location = response.headers.get("location")
            where = f" to {shown(location)} (not followed)" if location else ""
            fetched.error = f"{status_reason(status)}{where}"
            return fetched
        length = response.headers.get("content-length", "")
        promised = int(length) if length.isascii() and length.isdigit() else None
        why = _differs(wanted.size, promised) if promised is not None else None
        why = why or modified_since_listing(response.headers.get("last-modified"), wanted.mtime_ns)
        if why:
            fetched.status, fetched.error = "changed", why.replace("received", "announced", 1)
            return fetched
        return await self._stream(response, fetched)

    async def _stream(self, response: httpx.Response, fetched: Fetched) -> Fetched:
        wanted = fetched.wanted
        with self.store.temp_file() as (path, file):
            body = Body(file, wanted, self.store.describe())
            try:
                async for chunk in response.aiter_raw():
                    body.write(chunk)
            except _TooLong as exc:
                fetched.status, fetched.error = exc.status, exc.reason
            except httpx.TimeoutException as exc:
                raise _Retryable(f"silent for {seconds_text(self.limits.timeout)}") from exc
            except httpx.TransportError as exc:
                raise _Retryable(f"body cut short: {connect_reason(exc)[0]}") from exc
        fetched.size = body.size
        if fetched.error is None and (why := _differs(wanted.size, body.size)):
            fetched.status, fetched.error = "changed", why
        if fetched.error is not None:
            path.unlink(missing_ok=True)
            return fetched
        return body.finish(fetched, path)


# -- local targets ----------------------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class _LocalProblem(Exception):
    pass


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _walk_to(root_real: str, rel: str) -> tuple[int, str]:
    """A descriptor of the folder holding ``rel``, reached through real folders only."""
    parts = rel.split("/")
    if any(p in {"", ".", ".."} or "\0" in p for p in parts):
        raise _LocalProblem("not a path under the target's root")
    fd = os.open(root_real, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            child = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def open_local(root: Path, rel: str) -> int:
    """A read descriptor of the regular file ``rel`` under ``root`` (see the module docstring)."""
    root_real = os.path.realpath(root)
    for _ in range(2):
        folder, name = _walk_to(root_real, rel)
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                real = os.path.realpath(os.path.join(root_real, rel))
                if not _inside(real, root_real) or real == root_real:
                    raise _LocalProblem("a link that leads out of the target's root")
                rel = os.path.relpath(real, root_real).replace(os.sep, "/")
                continue
            if not stat.S_ISREG(info.st_mode):
                raise _LocalProblem("not a regular file")
            fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
        finally:
            os.close(folder)
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            os.close(fd)
            raise _LocalProblem("replaced while it was opened")
        return fd
    raise _LocalProblem("a link to a link")


class LocalFetcher:
    """Reads versions of a local target, in worker threads."""

    concurrency = 4

    def __init__(
        self,
        target: LocalTarget,
        store: BlobStore,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.target = target
        self.store = store
        self.now = now

    async def aclose(self) -> None:
        return None

    async def fetch(self, wanted: Wanted, worker: int) -> Fetched:
        """Read ``wanted`` in a thread; cancelled, the thread's temporary file is removed."""
        handover = _Handover()
        try:
            return await asyncio.to_thread(handover.run, self._fetch, wanted)
        except asyncio.CancelledError:
            handover.abandon()  # a thread cannot be stopped: what it leaves is removed
            raise

    def _fetch(self, wanted: Wanted) -> Fetched:
        fetched = Fetched(wanted, "failed", self.now())
        try:
            fd = open_local(self.target.path, wanted.path)
        except _LocalProblem as exc:
            fetched.error = str(exc)
            return fetched
        except OSError as exc:
            fetched.error = os_error_message(exc, "cannot open it")
            return fetched
        with open(fd, "rb", buffering=0) as source:
            return self._copy(source, fetched)

    def _copy(self, source: io.FileIO, fetched: Fetched) -> Fetched:
        wanted = fetched.wanted
        before = os.fstat(source.fileno())
        if why := self._changed(before, wanted):
            fetched.status, fetched.error = "changed", why
            return fetched
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        with self.store.temp_file() as (path, file):
            body = Body(file, wanted, self.store.describe())
            try:
                while count := source.readinto(buffer):
                    body.write(view[:count])
            except _TooLong as exc:
                fetched.status, fetched.error = exc.status, exc.reason
            except OSError as exc:
                fetched.error = os_error_message(exc, "cannot read it")
            after = os.fstat(source.fileno())
        fetched.size = body.size
        if fetched.error is None:
            why = _differs(wanted.size, body.size) or self._changed(after, wanted)
            if why:
                fetched.status, fetched.error = "changed", why
        if fetched.error is not None:
            path.unlink(missing_ok=True)
            return fetched
        return body.finish(fetched, path)

    @staticmethod
    def _changed(info: os.stat_result, wanted: Wanted) -> str | None:
        if wanted.size is not None and info.st_size != wanted.size:
            return f"now {size_text(info.st_size)}, the listing showed {size_text(wanted.size)}"
        if wanted.mtime_ns is not None and info.st_mtime_ns != wanted.mtime_ns:
            return "modified since it was listed"
        return None


class _Handover:
    """Hands a thread's result to its awaiting coroutine, or removes its temporary file
    when the coroutine was cancelled, whichever of the two comes last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        self.result: Fetched | None = None

    def run(self, fetch: Callable[[Wanted], Fetched], wanted: Wanted) -> Fetched:
        result = fetch(wanted)
        with self.lock:
            self.result = result
            if self.abandoned:
                self._drop()
        return result

    def abandon(self) -> None:
        with self.lock:
            self.abandoned = True
            self._drop()

    def _drop(self) -> None:
        if self.result is not None and self.result.temp is not None:
            self.result.temp.unlink(missing_ok=True)


Fetcher = HttpFetcher | LocalFetcher
