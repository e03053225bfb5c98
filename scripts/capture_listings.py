#!/usr/bin/env python3
"""Capture directory-listing pages from real servers into ``tests/fixtures/listings/``.

Builds a tree of hostile names in a temporary folder, writes the truth about it to
``tree.json``, serves it with each real server on 127.0.0.1 (a free port each), fetches the
listing page of every folder in every format, and saves each page as
``<format>/<escaped folder path>.body`` with a ``.json`` sidecar (URL, status, content type,
server header, Date header, and the zone the page's offset-less times are in). A real 404
page of each server goes to ``errors/``. The hand-made IIS sample in ``iis/`` is left alone.
Every server is stopped at the end, whatever happens. The tree and the servers' settings live
in ``tests/live_servers.py``, which the live crawl tests (``tests/sources/test_live_crawl.py``)
use too.

What it needs (the parser tests need only the fixtures it wrote)::

    apt-get install -y nginx apache2 lighttpd caddy rclone
    pip install wsgidav cheroot

Run it as root (Apache and lighttpd drop to www-data, so the tree is made world-readable)::

    python scripts/capture_listings.py            # rewrites tests/fixtures/listings/
    python scripts/capture_listings.py --keep     # keeps the temporary tree and server logs
    python scripts/capture_listings.py --only apache-suppressed   # adds one new format

``--only`` captures just the formats named (a new variant in ``tests/live_servers.py``) into
folders that do not exist yet, and touches nothing else: the other formats' pages,
``tree.json`` (checked against the tree served instead), ``capture.json`` and ``errors/``
stay as they were, so adding a format does not rewrite every fixture.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the servers and the tree live in tests/live_servers.py

from tests.live_servers import (  # noqa: E402 - needs the repo root on sys.path
    SERVER_ZONE,
    SERVERS,
    ServerError,
    Variant,
    folders_of,
    make_tree,
    missing,
    program,
    scratch,
    serving,
    url_path,
)

FIXTURES = REPO / "tests" / "fixtures" / "listings"


def fixture_name(folder: str) -> str:
    """The file name a folder's page is saved under: its URL path, fully percent-encoded."""
    return quote(f"/{folder}/" if folder else "/", safe="")


# --- fetching ----------------------------------------------------------------------------


def fetch(client: httpx.Client, variant: Variant, path: str) -> httpx.Response:
    """GET ``path`` (already percent-encoded) from the variant's port."""
    headers = {"Accept-Encoding": "identity", **variant.headers}
    return client.get(f"http://127.0.0.1:{variant.port}{path}", headers=headers)


def save(out: Path, name: str, response: httpx.Response, path: str, variant: Variant) -> None:
    """Write the body and its sidecar."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.body").write_bytes(response.content)
    sidecar = {
        "url": f"http://127.0.0.1:{variant.port}{path}",
        "url_path": path,
        "request_headers": variant.headers,
        "status": response.status_code,
        "content_type": response.headers.get("content-type"),
        "server": response.headers.get("server"),
        "date": response.headers.get("date"),
        "zone": variant.zone,
    }
    (out / f"{name}.json").write_text(json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n")


def capture_variant(
    client: httpx.Client, variant: Variant, folders: list[str], out: Path
) -> str | None:
    """Fetch every folder's listing in one format; return the server header seen."""
    server = None
    for folder in folders:
        path = url_path(folder)
        response = fetch(client, variant, path)
        if response.status_code != 200:
            raise SystemExit(f"{variant.format}: {path} answered {response.status_code}")
        save(out / variant.format, fixture_name(folder), response, path, variant)
        server = response.headers.get("server")
    return server


def capture_errors(client: httpx.Client, variant: Variant, out: Path) -> None:
    """A real 404 page from the server behind ``variant``."""
    path = "/no-such-folder/"
    save(out / "errors", f"{variant.format}-404", fetch(client, variant, path), path, variant)


def tool_versions() -> dict[str, str]:
    """The version line of each server program, for the record."""
    commands = {
        "nginx": [program("nginx"), "-v"],
        "apache2": [program("apache2"), "-v"],
        "lighttpd": [program("lighttpd"), "-v"],
        "caddy": [program("caddy"), "version"],
        "rclone": [program("rclone"), "version"],
        "python": [sys.executable, "--version"],
        "wsgidav": [str(Path(sys.executable).with_name("wsgidav")), "--version"],
    }
    versions = {}
    for name, command in commands.items():
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        text = (done.stdout + done.stderr).strip().splitlines()
        versions[name] = text[0] if text else "?"
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument("--keep", action="store_true", help="keep the temporary tree and logs")
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        help="capture only these formats (comma-separated), into new folders; nothing else",
    )
    args = parser.parse_args()
    with scratch("listings-", keep=args.keep) as base:
        if args.keep:
            print(f"keeping {base}")
        try:
            if args.only:
                capture_only(base, args.out, args.only)
            else:
                capture(base, args.out)
        except ServerError as exc:
            raise SystemExit(str(exc)) from exc


def capture(base: Path, out: Path) -> None:
    """Build the tree under ``base``, serve it with each server in turn, save every page."""
    root, work = base / "tree", base / "work"
    root.mkdir()
    work.mkdir()
    truth = make_tree(root)
    folders = folders_of(truth)
    servers = [make(root, work) for make in SERVERS]
    if reasons := [reason for server in servers if (reason := missing(server))]:
        raise SystemExit("cannot capture:\n" + "\n".join(reasons))
    out.mkdir(parents=True, exist_ok=True)
    for stale in [d for d in out.iterdir() if d.is_dir() and d.name != "iis"]:
        shutil.rmtree(stale)  # the hand-made IIS sample is not captured: keep it
    (out / "tree.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
    record: dict[str, Any] = {"zone": SERVER_ZONE, "versions": tool_versions(), "formats": {}}
    with httpx.Client(trust_env=False, timeout=30, follow_redirects=False) as client:
        for make in SERVERS:
            with serving(make, root, work) as server:
                for variant in server.variants:
                    header = capture_variant(client, variant, folders, out)
                    record["formats"][variant.format] = {"server": header, "zone": variant.zone}
                capture_errors(client, server.variants[0], out)
            print(f"captured {server.name}: {', '.join(v.format for v in server.variants)}")
    (out / "capture.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def capture_only(base: Path, out: Path, formats: set[str]) -> None:
    """Capture only ``formats``, each into a folder of ``out`` that does not exist yet; check
    that the tree served is the one ``tree.json`` records, and write nothing else."""
    root, work = base / "tree", base / "work"
    root.mkdir()
    work.mkdir()
    truth = make_tree(root)
    if json.loads((out / "tree.json").read_text()) != truth:
        raise SystemExit(f"{out / 'tree.json'} is not the tree of tests/live_servers.py")
    servers = [make(root, work) for make in SERVERS]
    known = {v.format for server in servers for v in server.variants}
    if unknown := formats - known:
        raise SystemExit(f"no server renders {', '.join(sorted(unknown))}")
    if existing := sorted(fmt for fmt in formats if (out / fmt).exists()):
        raise SystemExit(f"already captured: {', '.join(existing)} (a full capture rewrites)")
    folders = folders_of(truth)
    with httpx.Client(trust_env=False, timeout=30, follow_redirects=False) as client:
        for make, server in zip(SERVERS, servers, strict=True):
            if not formats & {v.format for v in server.variants}:
                continue
            if reason := missing(server):
                raise SystemExit(f"cannot capture: {reason}")
            with serving(make, root, work) as running:
                for variant in running.variants:
                    if variant.format in formats:
                        header = capture_variant(client, variant, folders, out)
                        print(f"captured {variant.format} ({header}, zone {variant.zone})")


if __name__ == "__main__":
    main()
