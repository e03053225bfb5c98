"""The walk: workers taking folders from one queue, turning pages into entries (see the package).

:func:`crawl` is the entry point; :class:`Walk` is one crawl's state: the queue, the URLs seen,
the entries and failures gathered, the pages kept for the next crawl.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from operator import attrgetter
from urllib.parse import quote, urljoin

import httpx

from monitor.crawl.fetch import Fetcher, Response, open_client
from monitor.crawl.options import NO_RULES, ClientOptions, CrawlLimits, ParsePage, Timing
from monitor.crawl.reasons import shown, status_reason
from monitor.crawl.results import CachedPage, CrawlResult, CrawlStats, PageCache
from monitor.crawl.scope import Scope
from monitor.errors import FolderFailed, RootUnavailable
from monitor.sources.base import Entry, FolderFailure, ProgressCallback
from monitor.sources.listings import NotAListing, Page
from monitor.sources.local import Rules

MAX_REDIRECTS = 5
#: Report progress after a folder once this many more entries were gathered.
PROGRESS_EVERY = 1000
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LIMITS, _OPTIONS, _TIMING = CrawlLimits(), ClientOptions(), Timing()


@dataclass(slots=True)
class Folder:
    """A folder to list: its path under the root, its URL, its depth (the root is 0)."""

    path: str
    url: str
    depth: int


class Walk:
    """One crawl; see the package docstring."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        stats: CrawlStats,
        root: str,
        parse: ParsePage,
        *,
        limits: CrawlLimits,
        rules: Rules,
        timing: Timing,
        cache: PageCache | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.stats, self.root, self.parse = stats, root, parse
        self.limits, self.rules, self.progress = limits, rules, progress
        self.scope = Scope.of(root)
        self.old_cache: dict[str, CachedPage] = dict(cache or {})
        self.new_cache: dict[str, CachedPage] = {}
        self.entries: list[Entry] = []
        self.failed: list[FolderFailure] = []
        self.skipped = self.folders = 0
        self.seen: set[str] = {root}
        self.queue: asyncio.Queue[Folder] = asyncio.Queue()
        self.capped = False
        self.fetcher = Fetcher(client, stats, limits=limits, timing=timing, cache=self.old_cache)
        self._next_report = PROGRESS_EVERY

    async def run(self) -> CrawlResult:
        root = Folder("", self.root, 0)
        try:
            page, url = await self._list(root)
        except FolderFailed as exc:
            raise RootUnavailable(f"cannot list {self.root}: {exc.reason}") from exc
        self._add_page(root, page, url)
        await self._drain()
        if self.progress is not None:
            self.progress(len(self.entries), self.folders)
        self.entries.sort(key=attrgetter("path"))
        self.failed.sort(key=attrgetter("path"))
        return CrawlResult(self.entries, self.failed, self.skipped, self.folders, self.stats)

    async def _drain(self) -> None:
        """Run the workers until the queue is done; a worker's unexpected error is raised."""
        joined = asyncio.create_task(self.queue.join())
        workers = [asyncio.create_task(self._work()) for _ in range(self.limits.concurrency)]
        try:
            done, _ = await asyncio.wait([joined, *workers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [joined, *workers]:
                task.cancel()
            await asyncio.gather(joined, *workers, return_exceptions=True)
        for task in done:
            task.result()

    async def _work(self) -> None:
        while True:
            folder = await self.queue.get()
            try:
                if not self.capped:
                    await self._visit(folder)
            finally:
                self.queue.task_done()

    async def _visit(self, folder: Folder) -> None:
        try:
            page, url = await self._list(folder)
        except FolderFailed as exc:
            self.failed.append(FolderFailure(folder.path, exc.reason))
            return
        if not self.capped:
            self._add_page(folder, page, url)

    def _add_page(self, folder: Folder, page: Page, url: str) -> None:
        """Add a listed folder's items; queue its subfolders."""
        self.folders += 1
        self.stats.formats.add(page.format)
        prefix = folder.path + "/" if folder.path else ""
        names: set[str] = set()
        for item in page.items:
            if item.name in names:
                continue
            names.add(item.name)
            rel = prefix + item.name
            if not item.is_dir:
                if self.rules.active and self.rules.skips_file(rel):
                    self.skipped += 1
                else:
                    self.entries.append(Entry(rel, "file", item.size, item.mtime_ns, item.etag))
                continue
            if self.rules.active and self.rules.skips_dir(rel):
                self.skipped += 1
                continue
            self.entries.append(Entry(rel, "dir"))
            child = url + quote(item.name.encode("utf-8", "surrogateescape"), safe="") + "/"
            self._queue(Folder(rel, child, folder.depth + 1))
        if len(self.entries) > self.limits.max_entries:
            self._cut_at_cap()
        elif self.progress is not None and len(self.entries) >= self._next_report:
            self.progress(len(self.entries), self.folders)
            self._next_report = len(self.entries) + PROGRESS_EVERY

    def _queue(self, folder: Folder) -> None:
        if not self.scope.contains(folder.url) or folder.url in self.seen:
            self.skipped += 1
        elif folder.depth > self.limits.max_depth:
            reason = f"deeper than max_depth ({self.limits.max_depth}); raise max_depth"
            self.failed.append(FolderFailure(folder.path, reason))
        else:
            self.seen.add(folder.url)
            self.queue.put_nowait(folder)

    def _cut_at_cap(self) -> None:
        cap = self.limits.max_entries
        self.skipped += len(self.entries) - cap
        del self.entries[cap:]
        self.failed.append(FolderFailure("", f"more than {cap} entries; raise max_entries"))
        self.capped = True

    async def _list(self, folder: Folder) -> tuple[Page, str]:
        """The page of one folder, following redirects within scope; FolderFailed if none."""
        url = folder.url
        for _ in range(MAX_REDIRECTS + 1):
            response = await self.fetcher.get(url, folder.path)
            if response.status not in _REDIRECTS:
                return self._page(response, url, folder.path), url
            url = self._redirect(response, url, folder)
        raise FolderFailed(folder.path, f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, response: Response, url: str, folder: Folder) -> str:
        location: str = response.headers.get("location", "")
        if not location:
            raise FolderFailed(folder.path, f"{status_reason(response.status)} without a Location")
        target = urljoin(url, location.strip())
        if not self.scope.contains(target):
            raise FolderFailed(folder.path, f"redirected out of scope to {shown(target)}")
        if target in self.seen and target != folder.url:
            raise FolderFailed(folder.path, f"redirects to {shown(target)}, listed already")
        self.seen.add(target)
        return target

    def _page(self, response: Response, url: str, path: str) -> Page:
        if response.status == 304 and url in self.old_cache:
            self.new_cache[url] = self.old_cache[url]
            return self.old_cache[url].page
        if response.status != 200:
            raise FolderFailed(path, status_reason(response.status))
        try:
            page = self.parse(response.body, url, response.headers)
        except NotAListing as exc:
            raise FolderFailed(path, f"not a directory listing: {_detail(exc, url)}") from exc
        etag = response.headers.get("etag")
        if etag:
            self.new_cache[url] = CachedPage(etag, page)
        return page


def _detail(exc: NotAListing, url: str) -> str:
    """``https://h/x/: a login form, not a directory listing`` → ``login form``."""
    text = exc.message.removeprefix(f"{url}: ").removesuffix(", not a directory listing")
    for article in ("a ", "an "):
        text = text.removeprefix(article)
    return shown(text)


async def crawl(
    root: str,
    parse: ParsePage,
    *,
    rules: Rules = NO_RULES,
    limits: CrawlLimits = _LIMITS,
    options: ClientOptions = _OPTIONS,
    timing: Timing = _TIMING,
    cache: PageCache | None = None,
    progress: ProgressCallback | None = None,
) -> CrawlResult:
    """List ``root`` (a URL ending in ``/``) and every folder under it; see the package doc."""
    stats = CrawlStats()
    async with open_client(limits, options, stats) as client:
        walk = Walk(
            client,
            stats,
            root,
            parse,
            limits=limits,
            rules=rules,
            timing=timing,
            cache=cache,
            progress=progress,
        )
        result = await walk.run()
    if cache is not None:
        cache.clear()
        cache.update(walk.new_cache)
    return result
