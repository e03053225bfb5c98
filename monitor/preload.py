"""A target's current versions, read while its crawl runs.

Loading 100,000 current versions takes a few tenths of a second; a crawl mostly waits on the
network. So a poll reads them in a thread while it crawls, and the poll's write transaction
uses them only if the target's snapshots are still what they were when they were read (no
poll recorded and no snapshot accepted since); otherwise it reads them again, inside the
transaction, as it always did.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, case, func, select

from monitor.errors import NotFound, StoreError
from monitor.store import Store
from monitor.store.queries import StoredVersion, current_versions, snapshot_t, target_id

#: The newest snapshot id of a target and the newest applied one: versions change only with them.
Marker = tuple[int | None, int | None]


@dataclass(frozen=True)
class Preloaded:
    marker: Marker
    versions: dict[str, StoredVersion]


def state_marker(conn: Connection, tid: int) -> Marker:
    row = conn.execute(
        select(
            func.max(snapshot_t.c.id),
            func.max(case((snapshot_t.c.applied.is_(True), snapshot_t.c.id))),
        ).where(snapshot_t.c.target_id == tid)
    ).one()
    return (row[0], row[1])


def preload(store: Store, name: str) -> Preloaded | None:
    """The current versions of target ``name`` with their marker (None: not known yet, or the
    database could not be read now; the poll then reads them itself)."""
    try:
        with store.read() as conn:
            tid = target_id(conn, name)
            return Preloaded(state_marker(conn, tid), current_versions(conn, tid))
    except (NotFound, StoreError):
        return None


def current(conn: Connection, tid: int, preloaded: Preloaded | None) -> dict[str, StoredVersion]:
    """The current versions inside a write transaction: the preloaded ones if still valid."""
    if preloaded is not None and state_marker(conn, tid) == preloaded.marker:
        return preloaded.versions
    return current_versions(conn, tid)
