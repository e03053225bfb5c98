"""What the export, gc and history --content tests share (this module holds no tests).

``archive_current`` records captures the way the archiver does (body through the real blob
store, a blob row, a complete capture with provenance, ``version.sha256``) for every current
file of a local target that has no complete capture yet, so the tests work with or without
the archiver running inside ``monitor poll``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, insert, update

from monitor.archive.blobs import BlobStore, open_blob_store
from monitor.config import load_settings
from monitor.poll import utc_now
from monitor.store import archive_queries as aq
from monitor.store import open_store
from monitor.store import queries as q
from tests.conftest import Cli


def settings_blobs(cli: Cli) -> BlobStore:
    return open_blob_store(load_settings(cli.config))


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 65536):
        yield data[start : start + 65536]


def put_blob(blobs: BlobStore, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    asyncio.run(blobs.put_stream(digest, _chunks(data)))
    return digest


def archive_current(
    cli: Cli,
    root: Path,
    target: str = "drop",
    *,
    skip: tuple[str, ...] = (),
    when: datetime | None = None,
    again: bool = False,
) -> dict[str, int]:
    """Capture every current file of ``target`` (a folder at ``root``) not captured yet.

    Returns the new capture ids by path. Files in ``skip`` get a failed capture instead;
    ``again`` captures files that have a complete capture already once more.
    """
    settings = load_settings(cli.config)
    blobs = open_blob_store(settings)
    db = open_store(settings.database_url)
    made: dict[str, int] = {}
    try:
        with db.write() as conn:
            tid = q.target_id(conn, target)
            current = [v for v in q.current_versions(conn, tid).values() if v.type == "file"]
            done = aq.captures_of_versions(conn, [v.id for v in current])
            for v in current:
                if not again and any(c.status == "complete" for c in done.get(v.id, [])):
                    continue
                made[v.path] = _capture(conn, blobs, tid, v, root, v.path in skip, when)
    finally:
        db.close()
    return made


def _capture(
    conn: Connection,
    blobs: BlobStore,
    tid: int,
    version: q.StoredVersion,
    root: Path,
    fail: bool,
    when: datetime | None,
) -> int:
    url = (root / version.path).as_uri()
    row = {
        "target_id": tid,
        "version_id": version.id,
        "path": version.path,
        "url": url,
        "fetched_at": when or utc_now(),
        "expected_size": version.size,
        "attempts": 1,
    }
    if fail:
        row |= {"status": "failed", "error": "connection reset by peer", "attempts": 3}
    else:
        data = (root / version.path).read_bytes()
        digest = put_blob(blobs, data)
        if not aq.blob_known(conn, digest):
            conn.execute(
                insert(q.blob_t),
                {
                    "sha256": digest,
                    "size": len(data),
                    "mime": "text/plain" if b"\0" not in data else "application/octet-stream",
                    "description": "test",
                    "stored_at": row["fetched_at"],
                },
            )
        row |= {
            "status": "complete",
            "sha256": digest,
            "size": len(data),
            "http_status": 200,
            "headers": json.dumps({"content-type": "application/octet-stream", "x-test": "1"}),
            "ip": "127.0.0.1",
            "tls_fingerprint": "ab" * 32,
        }
        conn.execute(
            update(q.version_t).where(q.version_t.c.id == version.id).values(sha256=digest)
        )
    return int(conn.execute(insert(q.capture_t).returning(q.capture_t.c.id), row).scalar_one())
