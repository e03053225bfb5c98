"""Prometheus metrics, read from the database at each scrape.

Everything the daemon does is in the database (snapshots, batches, the outbox), so the
numbers are the same whether ``/metrics`` is served by ``monitor serve`` or inside
``monitor run``, survive restarts, and counters never go back. Per target:

- ``monitor_polls_total{target,status}`` (counter): polls recorded, by snapshot status;
- ``monitor_last_poll_timestamp_seconds{target}``: when the last poll ended (Unix time);
- ``monitor_last_poll_duration_seconds{target}``: how long the last poll took;
- ``monitor_last_poll_ok{target}``: 1 if the last poll did not fail, else 0;
- ``monitor_consecutive_failures{target}``: failed polls since the last good one;
- ``monitor_entries{target,type}``: files (``type="file"``) and dirs in the last good snapshot;
- ``monitor_bytes{target}``: the bytes of its files;
- ``monitor_batches_pending{target}``: batches not reviewed yet (review status ``new``).

And for the whole monitor: ``monitor_outbox_unsent`` (alerts waiting to be sent),
``monitor_outbox_given_up`` (alerts whose tries ran out), ``monitor_database_up`` (1 if the
database answered this scrape; when it did not, it is the only metric).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, and_, func, select

from monitor.errors import StoreError
from monitor.store import Store
from monitor.store import queries as q

alert_t = q.TABLES["alert"]
s = q.snapshot_t


class StoreCollector(Collector):
    """Yields the metrics above from one read transaction per scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return []  # read at each scrape only: registering must not touch the database

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("monitor_database_up", "1 if the database answered this scrape")
        try:
            with self.store.read() as conn:
                families = list(_families(conn))
        except StoreError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _families(conn: Connection) -> Iterator[Metric]:
    names = q.target_names(conn)
    yield from _poll_families(conn, names)
    yield from _content_families(conn, names)
    yield from _outbox_families(conn)


def _poll_families(conn: Connection, names: dict[int, str]) -> Iterator[Metric]:
    polls = CounterMetricFamily(
        "monitor_polls", "Polls recorded, by snapshot status", labels=["target", "status"]
    )
    rows = conn.execute(
        select(s.c.target_id, s.c.status, func.count()).group_by(s.c.target_id, s.c.status)
    )
    for tid, status, count in rows:
        polls.add_metric([names.get(tid, str(tid)), status], count)
    yield polls
    when = GaugeMetricFamily(
        "monitor_last_poll_timestamp_seconds", "When the last poll ended", labels=["target"]
    )
    took = GaugeMetricFamily(
        "monitor_last_poll_duration_seconds", "How long the last poll took", labels=["target"]
    )
    ok = GaugeMetricFamily(
        "monitor_last_poll_ok", "1 if the last poll did not fail", labels=["target"]
    )
    latest = select(func.max(s.c.id)).group_by(s.c.target_id)
    last = conn.execute(
        select(s.c.target_id, s.c.started_at, s.c.finished_at, s.c.status).where(s.c.id.in_(latest))
    )
    for tid, started, finished, status in last:
        label = [names.get(tid, str(tid))]
        when.add_metric(label, finished.timestamp())
        took.add_metric(label, max(0.0, (finished - started).total_seconds()))
        ok.add_metric(label, 0 if status == "failed" else 1)
    yield from (when, took, ok)
    yield _failures(conn, names)


def _failures(conn: Connection, names: dict[int, str]) -> Metric:
    family = GaugeMetricFamily(
        "monitor_consecutive_failures", "Failed polls since the last good one", labels=["target"]
    )
    good = (
        select(s.c.target_id, func.max(s.c.id).label("good"))
        .where(s.c.status != "failed")
        .group_by(s.c.target_id)
        .subquery()
    )
    rows = conn.execute(
        select(s.c.target_id, func.count())
        .select_from(s.outerjoin(good, good.c.target_id == s.c.target_id))
        .where(s.c.status == "failed", s.c.id > func.coalesce(good.c.good, 0))
        .group_by(s.c.target_id)
    )
    counts: dict[int, int] = {tid: count for tid, count in rows}
    for tid, name in names.items():
        family.add_metric([name], counts.get(tid, 0))
    return family


def _content_families(conn: Connection, names: dict[int, str]) -> Iterator[Metric]:
    entries = GaugeMetricFamily(
        "monitor_entries", "Files and dirs in the last good snapshot", labels=["target", "type"]
    )
    size = GaugeMetricFamily("monitor_bytes", "Bytes of the files in it", labels=["target"])
    good = (
        select(func.max(s.c.id))
        .where(s.c.status != "failed", s.c.applied.is_(True))
        .group_by(s.c.target_id)
    )
    rows = conn.execute(
        select(s.c.target_id, s.c.files, s.c.dirs, s.c.total_bytes).where(s.c.id.in_(good))
    )
    for tid, files, dirs, total in rows:
        name = names.get(tid, str(tid))
        entries.add_metric([name, "file"], files)
        entries.add_metric([name, "dir"], dirs)
        size.add_metric([name], total)
    yield from (entries, size)
    pending = GaugeMetricFamily(
        "monitor_batches_pending", "Batches not reviewed yet", labels=["target"]
    )
    b = q.batch_t
    new = conn.execute(
        select(b.c.target_id, func.count()).where(b.c.review == "new").group_by(b.c.target_id)
    )
    counts: dict[int, int] = {tid: count for tid, count in new}
    for tid, name in names.items():
        pending.add_metric([name], counts.get(tid, 0))
    yield pending


def _outbox_families(conn: Connection) -> Iterator[Metric]:
    unsent = conn.execute(
        select(func.count())
        .select_from(alert_t)
        .where(and_(alert_t.c.sent_at.is_(None), alert_t.c.gave_up_at.is_(None)))
    ).scalar_one()
    given_up = conn.execute(
        select(func.count()).select_from(alert_t).where(alert_t.c.gave_up_at.is_not(None))
    ).scalar_one()
    yield GaugeMetricFamily("monitor_outbox_unsent", "Alerts waiting to be sent", value=unsent)
    yield GaugeMetricFamily("monitor_outbox_given_up", "Alerts whose tries ran out", value=given_up)
