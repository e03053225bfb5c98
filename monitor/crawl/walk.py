"""The walk: workers taking folders from one queue, turning pages into entries (see the package).

:func:`crawl` is the entry point; :class:`Walk` is one crawl's state: the queue, the folders
claimed, the entries and failures gathered, the pages kept for the next crawl.

Each folder is listed from one URL, and each URL lists at most one folder. A URL's *key* is
the path it names under the root, decoded (:meth:`Scope.key`); a folder *claims* the key it
is listed from. A folder named in a listing claims its key when it is queued. A folder that
redirects to another key is an alias: it fails at once when that key is claimed; otherwise
the page it reached is held (:class:`Held`) until the queue is empty. A folder named in a
listing that claims the key meanwhile takes the held page (no second request) and the
redirecting folders fail; a key that no listing named goes, once the queue is empty, to the
first of its redirecting folders by path. Every folder that loses a key is a
:class:`FolderFailure`, never a silent skip, and which one loses does not depend on the order
the workers ran in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from operator import attrgetter
from urllib.parse import quote, urljoin, urlsplit

import httpx

from monitor.crawl.fetch import Clients, Fetcher, Response
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


@dataclass(slots=True, eq=False)
class Folder:
    """A folder to list: its path under the root, the folder that named it, its depth.

    A queued folder holds no URL (millions may wait): its URL is its parent's plus its name.
    ``key`` is what it claims (see the module docstring); ``url`` and ``base`` (the key of the
    page it was listed from) are set once it is listed.
    """

    path: str
    parent: Folder | None
    depth: int
    key: str
    url: str = ""
    base: str = ""

    def name(self) -> str:
        parent = self.parent
        return (
            self.path[len(parent.path) + 1 :] if parent is not None and parent.path else self.path
        )

    def request_url(self) -> str:
        """The URL to request: the root's, or the URL its parent was listed from + its name."""
        return self.url if self.parent is None else child_url(self.parent, self.name())


@dataclass(slots=True)
class Held:
    """A page reached by redirects, kept until it is known which folder lists it."""

    url: str
    page: Page
    folders: list[Folder] = field(default_factory=list)


def child_url(parent: Folder, name: str) -> str:
    return parent.url + quote(name.encode("utf-8", "surrogateescape"), safe="") + "/"


def same_format(root: str, page: str) -> bool:
    """Whether a page's format may come from the server that rendered the root's.

    An empty JSON array (``json``) is what every JSON format renders for an empty folder.
    """
    if root == page:
        return True
    return (root == "json" and page.endswith("json")) or (page == "json" and root.endswith("json"))


class Walk:
    """One crawl; see the package docstring."""

    def __init__(
        self,
        clients: Clients,
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
        self.clients, self.stats, self.root, self.parse = clients, stats, root, parse
        self.limits, self.rules, self.progress = limits, rules, progress
        self.scope = Scope.of(root)
        self.old_cache: dict[str, CachedPage] = dict(cache or {})
        self.new_cache: dict[str, CachedPage] = {}
        self.entries: list[Entry] = []
        self.failed: list[FolderFailure] = []
        self.skipped = self.folders = 0
        self.claimed: dict[str, Folder] = {}
        self.held: dict[str, Held] = {}
        self.held_items = 0
        self.moved: dict[str, str] = {}  # key of a URL that redirected (+ its last /) → where to
        self.root_format: str | None = None
        self.queue: asyncio.Queue[Folder] = asyncio.Queue()
        self.capped = False
        self.fetcher = Fetcher(stats, limits=limits, timing=timing, cache=self.old_cache)
        self._next_report = PROGRESS_EVERY

    async def run(self) -> CrawlResult:
        root = Folder("", None, 0, "", self.root)
        self.claimed[""] = root
        try:
            listed = await self._list(self.clients.client(0), root, self.root, hold=False)
        except FolderFailed as exc:
            raise RootUnavailable(f"cannot list {self.root}: {exc.reason}") from exc
        assert listed is not None  # the root is never held
        page, url, key = listed
        self.root_format = page.format
        self._add_page(root, page, url, key)
        await self._drain()
        while self.held and not self.capped:
            self._give_held()
            await self._drain()
        if self.progress is not None:
            self.progress(len(self.entries), self.folders)
        self.entries.sort(key=attrgetter("path"))
        self.failed.sort(key=attrgetter("path"))
        return CrawlResult(self.entries, self.failed, self.skipped, self.folders, self.stats)

    async def _drain(self) -> None:
        """Run the workers until the queue is done; a worker's unexpected error is raised."""
        joined = asyncio.create_task(self.queue.join())
        workers = [
            asyncio.create_task(self._work(self.clients.client(worker)))
            for worker in range(self.limits.concurrency)
        ]
        try:
            done, _ = await asyncio.wait([joined, *workers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [joined, *workers]:
                task.cancel()
            await asyncio.gather(joined, *workers, return_exceptions=True)
        for task in done:
            task.result()

    async def _work(self, client: httpx.AsyncClient) -> None:
        while True:
            folder = await self.queue.get()
            try:
                if not self.capped:
                    await self._visit(client, folder)
            finally:
                self.queue.task_done()

    async def _visit(self, client: httpx.AsyncClient, folder: Folder) -> None:
        held = self.held.pop(folder.key, None)
        try:
            if held is not None:  # reached by redirects already: listed here, not requested
                self.held_items -= len(held.page.items)
                self._lose(held.folders, held.url)
                page, url, key = held.page, held.url, folder.key
            else:
                listed = await self._list(client, folder, folder.request_url())
                if listed is None:
                    return
                page, url, key = listed
        except FolderFailed as exc:
            self.failed.append(FolderFailure(folder.path, exc.reason))
            return
        if not self.capped:
            self._add_page(folder, page, url, key)

    def _give_held(self) -> None:
        """Pages reached only by redirects, once the queue is empty: see the module docstring.

        Each goes to the first of its folders by path. A key that a folder queued during this
        pass claims is left for that folder to take (see :meth:`_visit`).
        """
        for key in [key for key in self.held if key in self.claimed]:  # none is expected
            held = self.held.pop(key)
            self.held_items -= len(held.page.items)
            self._lose(held.folders, held.url)
        for key in sorted(self.held):
            if self.capped:
                return
            if key in self.claimed:
                continue
            held = self.held.pop(key)
            self.held_items -= len(held.page.items)
            first, *others = sorted(held.folders, key=attrgetter("path"))
            self.claimed[key] = first
            self._lose(others, held.url)
            self._add_page(first, held.page, held.url, key)

    def _lose(self, folders: list[Folder], url: str) -> None:
        for folder in folders:
            reason = f"redirects to {shown(url)}, listed already"
            self.failed.append(FolderFailure(folder.path, reason))

    def _add_page(self, folder: Folder, page: Page, url: str, key: str) -> None:
        """Add a listed folder's items; queue its subfolders."""
        self.folders += 1
        self.stats.formats.add(page.format)
        if not self.stats.rounded:
            self.stats.rounded = not all(item.size_exact for item in page.items)
        folder.url, folder.base = url, key
        prefix = folder.path + "/" if folder.path else ""
        names: set[str] = set()
        entries, cap, rules = self.entries, self.limits.max_entries, self.rules
        for index, item in enumerate(page.items):  # 100,000s of items: names looked up once
            if len(entries) >= cap:
                self._cut_at_cap(len(page.items) - index)
                return
            name = item.name
            if name in names:
                continue
            names.add(name)
            rel = prefix + name
            if not item.is_dir:
                if rules.active and rules.skips_file(rel):
                    self.skipped += 1
                else:
                    entries.append(Entry(rel, "file", item.size, item.mtime_ns, item.etag))
                continue
            if rules.active and rules.skips_dir(rel):
                self.skipped += 1
                continue
            entries.append(Entry(rel, "dir"))
            self._queue(folder, name, rel)
        if self.progress is not None and len(self.entries) >= self._next_report:
            self.progress(len(self.entries), self.folders)
            self._next_report = len(self.entries) + PROGRESS_EVERY

    def _queue(self, parent: Folder, name: str, rel: str) -> None:
        """Claim and queue a subfolder; a failure when it cannot be listed."""
        reason = ""
        key = rel if parent.base == parent.path else f"{parent.base}/{name}".lstrip("/")
        other = self.claimed.get(key)
        if not self.scope.contains(child_url(parent, name)):
            reason = "not listed: its name would lead out of the root"
        elif parent.depth + 1 > self.limits.max_depth:
            reason = f"deeper than max_depth ({self.limits.max_depth}); raise max_depth"
        elif other is not None:
            reason = f"not listed: its URL is that of {shown(other.path or '/')}, listed already"
        if reason:
            self.failed.append(FolderFailure(rel, reason))
            return
        folder = Folder(rel, parent, parent.depth + 1, key)
        self.claimed[key] = folder
        self.queue.put_nowait(folder)

    def _cut_at_cap(self, left: int) -> None:
        """Past max_entries: stop, and drop the folders still waiting."""
        cap = self.limits.max_entries
        self.skipped += left + max(0, len(self.entries) - cap)
        del self.entries[cap:]
        self.failed.append(FolderFailure("", f"more than {cap} entries; raise max_entries"))
        self.capped = True
        self.held.clear()
        self.held_items = 0
        while not self.queue.empty():
            self.queue.get_nowait()
            self.queue.task_done()

    async def _list(
        self, client: httpx.AsyncClient, folder: Folder, url: str, *, hold: bool = True
    ) -> tuple[Page, str, str] | None:
        """The page of one folder, following redirects within scope; FolderFailed if none.

        Returns the page, the URL it came from and its key; None when the page is held.
        """
        for _ in range(MAX_REDIRECTS + 1):
            key = self.scope.key(url)
            if key != folder.key:
                if key in self.claimed:
                    raise FolderFailed(folder.path, f"redirects to {shown(url)}, listed already")
                if hold and key in self.held:
                    self.held[key].folders.append(folder)
                    return None
            spelling = key + "/" if urlsplit(url).path.endswith("/") else key
            target = self.moved.get(spelling)
            if target is None:
                response = await self.fetcher.get(client, url, folder.path)
                if response.status not in _REDIRECTS:
                    return self._listed(folder, response, url, hold=hold)
                target = self.moved[spelling] = self._redirect(response, url, folder)
            url = target
        raise FolderFailed(folder.path, f"more than {MAX_REDIRECTS} redirects")

    def _listed(
        self, folder: Folder, response: Response, url: str, *, hold: bool
    ) -> tuple[Page, str, str] | None:
        """The page a folder's URL led to: its own, or another key's (claimed, or held)."""
        if not urlsplit(url).path.endswith("/"):
            reason = f"redirected to {shown(url)}, not a folder's URL (no / at the end)"
            raise FolderFailed(folder.path, reason)
        page = self._page(response, url, folder.path)
        key = self.scope.key(url)
        if key == folder.key:
            return page, url, key
        if key in self.claimed:  # claimed while the response was on its way
            raise FolderFailed(folder.path, f"redirects to {shown(url)}, listed already")
        if not hold:
            self.claimed[key] = folder
            return page, url, key
        held = self.held.setdefault(key, Held(url, page))
        held.folders.append(folder)
        if held.page is page:
            self.held_items += len(page.items)
            if len(self.entries) + self.held_items > self.limits.max_entries:
                self._cut_at_cap(0)
        return None

    def _redirect(self, response: Response, url: str, folder: Folder) -> str:
        location: str = response.headers.get("location", "")
        if not location:
            raise FolderFailed(folder.path, f"{status_reason(response.status)} without a Location")
        target = urljoin(url, location.strip())
        if not self.scope.contains(target):
            raise FolderFailed(folder.path, f"redirected out of scope to {shown(target)}")
        return target

    def _page(self, response: Response, url: str, path: str) -> Page:
        if response.status == 304 and url in self.old_cache:
            kept = self.old_cache[url]
            self._check_format(kept.page, path)
            self.new_cache[url] = kept
            return kept.page
        if response.status != 200:
            raise FolderFailed(path, status_reason(response.status))
        try:
            page = self.parse(response.body, url, response.headers)
        except NotAListing as exc:
            raise FolderFailed(path, f"not a directory listing: {_detail(exc, url)}") from exc
        self._check_format(page, path)
        etag = response.headers.get("etag")
        if etag:
            self.new_cache[url] = CachedPage(etag, page)
        return page

    def _check_format(self, page: Page, path: str) -> None:
        """A folder's page must be in the root's format: else it is an error or login page."""
        root = self.root_format
        if root is not None and not same_format(root, page.format):
            reason = f"not the server's listing format: {page.format} (the root's is {root})"
            raise FolderFailed(path, shown(reason))


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
    async with Clients(limits, options, stats) as clients:
        walk = Walk(
            clients,
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
