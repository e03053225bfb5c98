"""A server that refuses downloads: a long Retry-After stops the run, and so does a run of
files the server fails; files it merely lacks (404) do not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.store import Store
from tests.archive.helpers import archive, archive_settings, captures, poll_and_archive
from tests.archive.servers import FileServer
from tests.helpers import Clock, poll, put
from tests.servers import Fault

FILES = 30


def _server() -> FileServer:
    return FileServer({f"drop/f{i:02d}.bin": b"%d" % i * 100 for i in range(FILES)})


def _http(url: str, **kw: Any) -> dict[str, Any]:
    return {"name": "web", "kind": "http", "url": url, "rate": 1000, "concurrency": 1, **kw}


def _downloads(server: FileServer) -> int:
    return sum(server.count(server.file_url_path(f"drop/f{i:02d}.bin")) for i in range(FILES))


def test_a_long_retry_after_stops_the_run_and_puts_the_file_off(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    with _server() as server:
        for i in range(FILES):
            path = server.file_url_path(f"drop/f{i:02d}.bin")
            server.faults[path] = Fault(503, headers={"Retry-After": "999999"})
        settings = archive_settings(tmp_path, _http(server.url, retries=3))
        _, report = poll_and_archive(store, settings, clock)
        assert _downloads(server) == 1  # asked once, told to stay away: nothing more
    assert (report.archived, report.failed, report.waiting) == (0, 1, FILES - 1)
    assert report.note == "the server asks to wait 11d13h46m39s (Retry-After)"
    (capture,) = captures(store)
    assert capture.status == "failed" and "Retry-After" in (capture.error or "")
    assert capture.next_attempt_at is not None and capture.fetched_at is not None
    assert capture.next_attempt_at - capture.fetched_at == timedelta(days=7)  # at most a week


def test_a_short_retry_after_is_waited_for_and_the_run_goes_on(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    with _server() as server:
        path = server.file_url_path("drop/f00.bin")
        server.faults[path] = Fault(503, times=1, headers={"Retry-After": "30"})
        settings = archive_settings(tmp_path, _http(server.url, retries=1))
        _, report = poll_and_archive(store, settings, clock)
        assert server.count(path) == 2
    assert (report.archived, report.failed, report.waiting) == (FILES, 0, 0)
    assert report.note is None


def test_files_the_server_keeps_failing_stop_the_run(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    with _server() as server:
        for i in range(FILES):
            server.faults[server.file_url_path(f"drop/f{i:02d}.bin")] = Fault(500)
        settings = archive_settings(tmp_path, _http(server.url, retries=1))
        _, report = poll_and_archive(store, settings, clock)
        assert _downloads(server) == 20 * 2  # 20 files, each with its retry
    assert (report.archived, report.failed, report.waiting) == (0, 20, FILES - 20)
    assert report.note == "the server failed 20 files in a row"
    # The next poll tries the ones left over (and those failed are due later).
    assert {c.status for c in captures(store)} == {"failed"}


def test_files_the_server_lacks_do_not_stop_the_run(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    """A removed batch answers 404 file after file: each is cheap, none is the server's fault."""
    with _server() as server:
        settings = archive_settings(tmp_path, _http(server.url, retries=1))
        now = clock()
        assert poll(store, settings.targets[0], clock).ok  # type: ignore[arg-type]
        for i in range(FILES - 1):
            server.remove(f"drop/f{i:02d}.bin")
        report = archive(store, settings, now)
    assert (report.archived, report.failed, report.waiting) == (1, FILES - 1, 0)
    assert report.note is None


def test_local_files_that_fail_do_not_stop_the_run(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    """A folder has no server to spare: files removed after the poll fail one by one (each
    is cheap, none is anyone's overload), and the rest are still archived."""
    drop = tmp_path / "drop"
    for i in range(FILES):
        put(drop, f"f{i:02d}.bin", b"%d" % i * 100)
    put(drop, "z.bin", b"last")
    settings = archive_settings(tmp_path, {"name": "drop", "kind": "local", "path": drop})
    now = clock()
    assert poll(store, settings.targets[0], clock).ok  # type: ignore[arg-type]
    for i in range(FILES):
        (drop / f"f{i:02d}.bin").unlink()
    report = archive(store, settings, now)
    assert (report.archived, report.failed, report.waiting) == (1, FILES, 0)
    assert report.note is None


def test_a_file_without_a_size_waiting_for_room_does_not_start_once_the_run_stops(
    store: Store, tmp_path: Path, clock: Clock
) -> None:
    """The second worker waits for the first one's reservation; the first is told to stay
    away: the second's file is not downloaded once room is given back."""
    with _server() as server:
        for i in range(FILES):
            server.files[f"drop/f{i:02d}.bin"] = "-"  # type: ignore[assignment]  # no size
        server.faults[server.file_url_path("drop/f00.bin")] = Fault(
            503, headers={"Retry-After": "999999"}
        )
        target = _http(server.url, retries=0, concurrency=2)
        settings = archive_settings(tmp_path, target, max_file_size=1000, max_bytes_per_poll=1500)
        _, report = poll_and_archive(store, settings, clock)
        assert _downloads(server) == 1
    assert (report.archived, report.failed, report.waiting) == (0, 1, FILES - 1)
