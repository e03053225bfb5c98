"""Current versions read during the crawl are used only while they are still current."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.poll import record_poll
from monitor.preload import preload
from monitor.sources import make_source
from monitor.store import Store
from tests.helpers import Clock, make_target, poll, put


def test_a_preload_made_stale_by_another_poll_is_not_used(
    store: Store, drop: Path, clock: Clock
) -> None:
    target = make_target(drop)
    put(drop, "a.txt")
    poll(store, target, clock)
    early = preload(store, "drop")
    assert early is not None and set(early.versions) == {"a.txt"}
    put(drop, "b.txt")
    assert poll(store, target, clock).added == 1  # recorded after the preload
    listing = asyncio.run(make_source(target).list())
    result = record_poll(store, target, listing, started=clock(), now=clock(), preloaded=early)
    assert (result.status, result.added, result.removed) == ("complete", 0, 0)


def test_a_current_preload_is_used(store: Store, drop: Path, clock: Clock) -> None:
    target = make_target(drop)
    put(drop, "a.txt")
    poll(store, target, clock)
    fresh = preload(store, "drop")
    assert fresh is not None
    # Prove it is the preload that is compared: alter a.txt in it, and the poll sees a change.
    fresh.versions["a.txt"] = fresh.versions["a.txt"]._replace(size=999)
    listing = asyncio.run(make_source(target).list())
    result = record_poll(store, target, listing, started=clock(), now=clock(), preloaded=fresh)
    assert (result.added, result.modified) == (0, 1)


def test_an_unknown_target_preloads_nothing(store: Store) -> None:
    assert preload(store, "never-polled") is None
