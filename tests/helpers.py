"""Small helpers the engine tests share: a controllable clock, files with exact mtimes."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import LocalTarget
from monitor.poll import PollResult, poll_target
from monitor.store import Store
from monitor.store import queries as q

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def make_target(root: Path, **kw: object) -> LocalTarget:
    return LocalTarget.model_validate({"name": "drop", "kind": "local", "path": root, **kw})


def put(root: Path, rel: str, data: bytes = b"x", mtime: int = 1_700_000_000) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime * 10**9 + 123_456_789, mtime * 10**9 + 123_456_789))
    return path


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def poll(store: Store, target: LocalTarget, clock: Clock) -> PollResult:
    with store.write() as conn:
        q.register_targets(conn, [(target.name, target.kind)], clock())
    result = asyncio.run(poll_target(store, target, clock=clock))
    clock.advance(minutes=30)
    return result
