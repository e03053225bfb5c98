"""Fetch every listing page of a served tree with each HTTP client the crawl could use.

The HTTP part of a crawl measured apart from the project (no parsing, no store): the same pages
(the root and every folder of ``gen_tree.py --manifest``'s ``.dirs`` file), ``--workers``
workers taking URLs from one queue, each body read whole and dropped. Clients:

- ``pool``: one ``httpx.AsyncClient`` with ``--workers`` connections (the crawl before);
- ``httpcore``: one ``httpx.AsyncClient`` of one connection per worker, httpx's transport;
- ``listing``: the same with :class:`monitor.crawl.transport.ListingTransport` (the crawl now);
- ``transport``: ``ListingTransport`` alone, requests handed to it without a client (what
  httpx's client costs is ``listing`` minus this);
- ``streams``: HTTP/1.1 keep-alive on plain asyncio streams, no checks at all (a floor for
  Python, not a client).

Run it on a tree served by ``serve_nginx.sh`` (see ``http.py``)::

    python bench/fetch_clients.py http://127.0.0.1:19050/ TREE/truth.tsv.dirs --repeat 5

It prints, per client, the median wall and CPU seconds of ``--repeat`` runs (in one process,
clients interleaved).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

# bench/http.py would stand for the standard library's http package (which httpx imports)
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import httpx  # noqa: E402

from monitor.crawl.transport import ListingTransport  # noqa: E402

Fetch = Callable[[list[str], int], Awaitable[int]]


def page_urls(base: str, dirs_file: Path) -> list[str]:
    base = base if base.endswith("/") else base + "/"
    folders = [line.rstrip("\n") for line in dirs_file.open(encoding="utf-8") if line.strip()]
    return [base] + [base + quote(folder, safe="/") + "/" for folder in folders]


async def _drain(urls: list[str], workers: int, get: Callable[[int, str], Awaitable[int]]) -> int:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    total = 0

    async def work(worker: int) -> None:
        nonlocal total
        while not queue.empty():
            size = await get(worker, queue.get_nowait())
            total += size

    await asyncio.gather(*(work(worker) for worker in range(workers)))
    return total


async def _read(client: httpx.AsyncClient, url: str) -> int:
    async with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        return size


async def pool(urls: list[str], workers: int) -> int:
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        return await _drain(urls, workers, lambda _, url: _read(client, url))


async def _per_worker(urls: list[str], workers: int, listing: bool) -> int:
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(
            limits=one, trust_env=False, transport=ListingTransport() if listing else None
        )
        for _ in range(workers)
    ]
    try:
        return await _drain(urls, workers, lambda worker, url: _read(clients[worker], url))
    finally:
        for client in clients:
            await client.aclose()


async def httpcore(urls: list[str], workers: int) -> int:
    return await _per_worker(urls, workers, listing=False)


async def listing(urls: list[str], workers: int) -> int:
    return await _per_worker(urls, workers, listing=True)


async def transport(urls: list[str], workers: int) -> int:
    """ListingTransport alone: an ``httpx.Request`` handed to it, no client around it."""
    transports = [ListingTransport() for _ in range(workers)]
    headers = {"Accept-Encoding": "gzip", "Host": urlsplit(urls[0]).netloc}

    async def get(worker: int, url: str) -> int:
        request = httpx.Request("GET", url, headers=headers)
        response = await transports[worker].handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        size = 0
        async for chunk in response.stream:
            size += len(chunk)
        return size

    try:
        return await _drain(urls, workers, get)
    finally:
        for each in transports:
            await each.aclose()


async def streams(urls: list[str], workers: int) -> int:
    parts = urlsplit(urls[0])
    host, port = parts.hostname or "", parts.port or 80
    connections = [await asyncio.open_connection(host, port) for _ in range(workers)]

    async def get(worker: int, url: str) -> int:
        reader, writer = connections[worker]
        path = urlsplit(url).path
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        if b"transfer-encoding: chunked" not in head:
            length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            return len(await reader.readexactly(length))
        size = 0
        while chunk := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            size += len(await reader.readexactly(chunk))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # no trailer
        return size

    try:
        return await _drain(urls, workers, get)
    finally:
        for _, writer in connections:
            writer.close()


CLIENTS: dict[str, Fetch] = {
    "pool": pool,
    "httpcore": httpcore,
    "listing": listing,
    "transport": transport,
    "streams": streams,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the URL of the tree's root")
    parser.add_argument("dirs", type=Path, help="the manifest's .dirs file")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    urls = page_urls(args.base, args.dirs)
    chosen = [name for name in args.clients.split(",") if name]
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
    sizes: dict[str, int] = {}
    for _ in range(args.repeat):
        for name in chosen:
            wall, cpu = time.perf_counter(), time.process_time()
            sizes[name] = asyncio.run(CLIENTS[name](urls, args.workers))
            seen[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(f"{len(urls)} pages, {args.workers} workers, median of {args.repeat}:")
    for name, runs in seen.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"  {name:9} {wall:6.3f} s (cpu {cpu:.3f})  {sizes[name]:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
