"""Where one poll's time goes: import, open, walk, load current versions, compare, write.

Runs one poll of the first target of CONFIG in this process, timing each phase with
``perf_counter`` (no profiler overhead). It wraps functions of ``monitor.poll`` by name, so
it follows the engine as it is today; a renamed function shows up as a KeyError here.

    python bench/poll_phases.py /tmp/bench-engine-XXXX/sqlite.toml   # a config kept by --keep
"""

from __future__ import annotations

import sys
import time

T0 = time.perf_counter()
import monitor.cli  # noqa: E402,F401 - what every CLI invocation imports, timed
import monitor.poll as poll  # noqa: E402

T1 = time.perf_counter()

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from monitor.config import load_settings  # noqa: E402
from monitor.sources import make_source  # noqa: E402
from monitor.sources.local import Walk  # noqa: E402
from monitor.store import open_store  # noqa: E402
from monitor.store import queries as q  # noqa: E402

timings: dict[str, float] = {"import monitor.cli": T1 - T0}


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def main(config: str) -> None:
    for name in ("current_versions", "compare", "_apply"):
        setattr(poll, name, timed(name, getattr(poll, name)))
    settings = load_settings(Path(config))
    target = settings.targets[0]
    store = timed("open_store", open_store)(settings.database_url)
    with store.write() as conn:
        q.register_targets(conn, [(target.name, target.kind)], poll.utc_now())
    source = make_source(target)
    walk = Walk(source.root, source.rules, target.max_entries)  # type: ignore[attr-defined]
    listing = timed("walk (local source)", walk.run)()
    now = poll.utc_now()
    result = timed("record_poll (all)", poll.record_poll)(
        store, target, listing, started=now, now=now
    )
    print(
        f"{settings.database_url.split(':')[0]}: {len(listing.entries)} entries, "
        f"{result.added} added, {result.removed} removed, {result.modified} modified"
    )
    for name, seconds in timings.items():
        print(f"  {name:24} {seconds:6.3f} s")


if __name__ == "__main__":
    main(sys.argv[1])
