#!/usr/bin/env python3
"""Capture directory-listing pages from real servers into ``tests/fixtures/listings/``.

Builds a tree of hostile names in a temporary folder, writes the truth about it to
``tree.json``, serves it with each real server on 127.0.0.1 (a free port each), fetches the
listing page of every folder in every format, and saves each page as
``<format>/<escaped folder path>.body`` with a ``.json`` sidecar (URL, status, content type,
server header, Date header, and the zone the page's offset-less times are in). A real 404
page of each server goes to ``errors/``. The hand-made IIS sample in ``iis/`` is left alone.
Every server is stopped at the end, whatever happens.

What it needs (the parser tests need only the fixtures it wrote)::

    apt-get install -y nginx apache2 lighttpd caddy rclone
    pip install wsgidav cheroot

Run it as root (Apache and lighttpd drop to www-data, so the tree is made world-readable)::

    python scripts/capture_listings.py            # rewrites tests/fixtures/listings/
    python scripts/capture_listings.py --keep     # keeps the temporary tree and server logs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "listings"
#: The zone every server runs in; formats that print local time print it in this zone.
SERVER_ZONE = "Europe/Berlin"
GiB = 1024**3


def at(text: str, extra_ns: int = 0) -> int:
    """Nanoseconds since the epoch of an ISO time in UTC, plus a sub-second part."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + extra_ns


LONG_NAME = ("long-name-" * 20)[:196] + ".txt"
assert len(LONG_NAME) == 200

#: (path, size, mtime_ns): files of the hostile tree. Sizes sit on the servers' rounding edges.
FILES: list[tuple[str, int, int]] = [
    ("plain.txt", 1234, at("2026-11-13 09:15:07", 250_000_000)),
    ("with space.txt", 0, at("2026-11-13 09:15:59", 999_999_999)),
    ("100% done.txt", 973, at("2026-10-01 00:00:00")),
    ("%41literal.txt", 1023, at("2026-10-31 23:59:30")),
    ("a&b=c.txt", 1024, at("2026-06-15 12:30:45")),
    ("hash#tag.txt", 1536, at("2026-03-29 01:30:00")),
    ("what?.txt", 9999, at("2026-03-29 00:59:59", 1)),
    ('it\'s "quoted".txt', 10000, at("2026-10-25 00:30:00")),
    ("<script>alert(1)<\\script>.html", 12345, at("2026-10-25 01:30:00")),
    ("plus+sign;semi.txt", 99, at("2026-11-01 08:00:00")),
    ("café ñ.txt", 100, at("2026-11-02 08:00:00")),
    ("日本語.txt", 3_000_000, at("2026-11-03 08:00:00")),
    ("한국어.txt", 1024 * 1024, at("2026-11-04 08:00:00")),
    ("emoji 😀.txt", 512 * 1024 - 1, at("2026-11-05 08:00:00")),
    (LONG_NAME, 54321, at("2026-11-06 08:00:00")),
    (".hidden", 42, at("2026-11-07 08:00:00")),
    ("report.docx", 20480, at("2026-11-08 08:00:00")),
    ("sparse-2GiB.bin", 2 * GiB, at("2026-11-09 08:00:00")),
    ("old.txt", 7, at("2025-01-15 06:07:08")),
    ("summer.txt", 1_500_000, at("2026-07-04 12:00:59", 999_000_000)),
    ("dir with space & #hash?/inner.txt", 5, at("2026-11-10 10:10:10")),
    ("日本語フォルダ/한국어 파일.txt", 6, at("2026-11-11 11:11:11")),
    ("deep/er/est/file.txt", 8, at("2026-11-12 12:12:12")),
    (".hidden-dir/inside.txt", 9, at("2026-11-12 13:13:13")),
]
#: Folders, with their mtimes (set after their children are made).
FOLDERS: list[tuple[str, int]] = [
    ("empty folder", at("2026-09-09 09:09:09")),
    ("dir with space & #hash?", at("2026-09-10 10:10:10")),
    ("日本語フォルダ", at("2026-09-11 11:11:11")),
    ("deep/er/est", at("2026-09-12 12:12:12")),
    ("deep/er", at("2026-09-12 12:12:13")),
    ("deep", at("2026-09-12 12:12:14")),
    (".hidden-dir", at("2026-09-13 13:13:13")),
]


def make_tree(root: Path) -> list[dict[str, Any]]:
    """Create the hostile tree under ``root``; return the truth about it, sorted by path."""
    for folder, _ in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for path, size, mtime_ns in FILES:
        target = root / path
        with open(target, "wb") as stream:
            stream.truncate(size)  # sparse: the 2 GiB file takes no disk space
        os.utime(target, ns=(mtime_ns, mtime_ns))
    for folder, mtime_ns in FOLDERS:  # deepest first, so children do not touch them again
        os.utime(root / folder, ns=(mtime_ns, mtime_ns))
    truth = []
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            os.chmod(full, 0o755 if full.is_dir() else 0o644)
            stat = full.stat()
            truth.append(
                {
                    "path": full.relative_to(root).as_posix(),
                    "type": "dir" if full.is_dir() else "file",
                    "size": None if full.is_dir() else stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                }
            )
    return sorted(truth, key=lambda entry: entry["path"])


def folders_of(truth: list[dict[str, Any]]) -> list[str]:
    """Every folder of the tree, the root ('') first, as decoded relative paths."""
    return [""] + [e["path"] for e in truth if e["type"] == "dir"]


def fixture_name(folder: str) -> str:
    """The file name a folder's page is saved under: its URL path, fully percent-encoded."""
    return quote(f"/{folder}/" if folder else "/", safe="")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the servers -------------------------------------------------------------------------


@dataclass
class Variant:
    """One listing format a server renders: fetched from ``port`` with these headers."""

    format: str
    port: int
    zone: str = "UTC"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Server:
    """A server to start: its command, and the formats it renders on which ports."""

    name: str
    command: list[str]
    variants: list[Variant]
    env: dict[str, str] = field(default_factory=dict)


def nginx_server(root: Path, work: Path) -> Server:
    """nginx autoindex in five formats, one server block each."""
    variants = [
        Variant("nginx-html", free_port()),
        Variant("nginx-exact-size-off", free_port()),
        Variant("nginx-localtime", free_port(), zone=SERVER_ZONE),
        Variant("nginx-json", free_port()),
        Variant("nginx-xml", free_port()),
    ]
    options = [
        "",
        "autoindex_exact_size off;",
        "autoindex_localtime on;",
        "autoindex_format json;",
        "autoindex_format xml;",
    ]
    blocks = "\n".join(
        f"  server {{ listen 127.0.0.1:{v.port}; root {root}; autoindex on; {extra} }}"
        for v, extra in zip(variants, options, strict=True)
    )
    conf = work / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{}}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path {work}/nginx-body;
  proxy_temp_path {work}/nginx-proxy;
  fastcgi_temp_path {work}/nginx-fastcgi;
  uwsgi_temp_path {work}/nginx-uwsgi;
  scgi_temp_path {work}/nginx-scgi;
{blocks}
}}
"""
    )
    return Server("nginx", ["nginx", "-p", str(work), "-c", str(conf)], variants)


APACHE_ICONS = """
Alias /icons/ "/usr/share/apache2/icons/"
<Directory "/usr/share/apache2/icons">
  Options FollowSymlinks
  AllowOverride None
  Require all granted
</Directory>
AddIconByType (TXT,/icons/text.gif) text/*
AddIcon /icons/binary.gif .bin .exe
AddIcon /icons/layout.gif .html .shtml .htm .pdf
AddIcon /icons/text.gif .txt
AddIcon /icons/back.gif ..
AddIcon /icons/folder.gif ^^DIRECTORY^^
AddIcon /icons/blank.gif ^^BLANKICON^^
DefaultIcon /icons/unknown.gif
AddDescription "The plain file, described" plain.txt
"""


def apache_server(root: Path, work: Path) -> Server:
    """Apache mod_autoindex: no IndexOptions, FancyIndexing, HTMLTable, and Debian's default."""
    variants = [
        Variant("apache-plain", free_port(), zone=SERVER_ZONE),
        Variant("apache-fancy", free_port(), zone=SERVER_ZONE),
        Variant("apache-table", free_port(), zone=SERVER_ZONE),
        Variant("apache-debian", free_port(), zone=SERVER_ZONE),
    ]
    options = [
        "",
        "IndexOptions FancyIndexing",
        "IndexOptions FancyIndexing HTMLTable",
        "IndexOptions FancyIndexing VersionSort HTMLTable NameWidth=* DescriptionWidth=* "
        "Charset=UTF-8\n  IndexIgnore .??* *~ *# RCS CVS *,v *,t",
    ]
    modules = "\n".join(
        f"LoadModule {name}_module /usr/lib/apache2/modules/mod_{name}.so"
        for name in ("mpm_event", "authz_core", "autoindex", "alias", "mime", "dir")
    )
    listens = "\n".join(f"Listen 127.0.0.1:{v.port}" for v in variants)
    hosts = "\n".join(
        f"<VirtualHost 127.0.0.1:{v.port}>\n  {extra}\n</VirtualHost>"
        for v, extra in zip(variants, options, strict=True)
    )
    conf = work / "apache2.conf"
    conf.write_text(
        f"""ServerRoot "{work}"
ServerName 127.0.0.1
DefaultRuntimeDir "{work}"
PidFile "{work}/apache2.pid"
ErrorLog "{work}/apache2-error.log"
User www-data
Group www-data
{modules}
TypesConfig /etc/mime.types
{listens}
DocumentRoot "{root}"
<Directory "/">
  AllowOverride None
  Require all denied
</Directory>
<Directory "{root}">
  Options Indexes
  AllowOverride None
  Require all granted
</Directory>
{APACHE_ICONS}
{hosts}
"""
    )
    return Server("apache", ["apache2", "-f", str(conf), "-DFOREGROUND"], variants)


def lighttpd_server(root: Path, work: Path) -> Server:
    """lighttpd mod_dirlisting with its defaults."""
    variant = Variant("lighttpd", free_port(), zone=SERVER_ZONE)
    conf = work / "lighttpd.conf"
    conf.write_text(
        f"""server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {variant.port}
server.username = "www-data"
server.groupname = "www-data"
server.pid-file = "{work}/lighttpd.pid"
server.modules = ("mod_dirlisting")
dir-listing.activate = "enable"
dir-listing.encoding = "utf-8"
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
"""
    )
    return Server("lighttpd", ["lighttpd", "-D", "-f", str(conf)], [variant])


def caddy_server(root: Path, work: Path) -> Server:
    """Caddy file_server browse: HTML, and JSON when asked with Accept: application/json."""
    port = free_port()
    variants = [
        Variant("caddy-html", port),
        Variant("caddy-json", port, headers={"Accept": "application/json"}),
    ]
    conf = work / "Caddyfile"
    conf.write_text(
        f"""{{
  admin off
  auto_https off
}}
http://127.0.0.1:{port} {{
  root * "{root}"
  file_server browse
}}
"""
    )
    env = {"HOME": str(work), "XDG_DATA_HOME": str(work), "XDG_CONFIG_HOME": str(work)}
    command = ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"]
    return Server("caddy", command, variants, env=env)


def pyhttp_server(root: Path, work: Path) -> Server:
    """Python's http.server."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return Server("pyhttp", [*command, "--directory", str(root)], [Variant("pyhttp", port)])


def rclone_server(root: Path, work: Path) -> Server:
    """rclone serve http over the local folder."""
    variant = Variant("rclone", free_port(), zone=SERVER_ZONE)
    command = ["rclone", "serve", "http", str(root), "--addr", f"127.0.0.1:{variant.port}"]
    env = {"RCLONE_CONFIG": str(work / "rclone.conf")}
    return Server("rclone", [*command, "--read-only"], [variant], env=env)


def wsgidav_server(root: Path, work: Path) -> Server:
    """wsgidav (on cheroot) with its directory browser, anonymous access."""
    variant = Variant("wsgidav", free_port(), zone=SERVER_ZONE)
    command = [
        str(Path(sys.executable).with_name("wsgidav")),
        "--host=127.0.0.1",
        f"--port={variant.port}",
        f"--root={root}",
        "--auth=anonymous",
        "--no-config",
    ]
    return Server("wsgidav", command, [variant])


SERVERS: list[Callable[[Path, Path], Server]] = [
    nginx_server,
    apache_server,
    lighttpd_server,
    caddy_server,
    pyhttp_server,
    rclone_server,
    wsgidav_server,
]


@contextlib.contextmanager
def running(server: Server, work: Path) -> Iterator[None]:
    """Start ``server``, wait until each of its ports answers, and stop it on the way out."""
    log = open(work / f"{server.name}.log", "wb")  # closed in the finally below
    env = {**os.environ, "TZ": SERVER_ZONE, **server.env}
    proc = subprocess.Popen(
        server.command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        for variant in server.variants:
            wait_until_listening(proc, variant.port, server.name, work)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_until_listening(proc: subprocess.Popen[bytes], port: int, name: str, work: Path) -> None:
    """Poll the port until it accepts a connection; fail with the server's log if it died."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (work / f"{name}.log").read_text(errors="replace")
            raise SystemExit(f"{name} exited with {proc.returncode}:\n{log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"{name} did not listen on 127.0.0.1:{port} within 30 s")


# --- fetching ----------------------------------------------------------------------------


def url_path(folder: str) -> str:
    """The percent-encoded URL path of a folder's listing (UTF-8, trailing slash)."""
    return quote(f"/{folder}/" if folder else "/", safe="/")


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
        "nginx": ["nginx", "-v"],
        "apache2": ["apache2", "-v"],
        "lighttpd": ["lighttpd", "-v"],
        "caddy": ["caddy", "version"],
        "rclone": ["rclone", "version"],
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
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="listings-"))
    os.chmod(base, 0o755)
    root, work = base / "tree", base / "work"
    root.mkdir()
    work.mkdir()
    try:
        truth = make_tree(root)
        folders = folders_of(truth)
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        for stale in [d for d in out.iterdir() if d.is_dir() and d.name != "iis"]:
            shutil.rmtree(stale)  # the hand-made IIS sample is not captured: keep it
        (out / "tree.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
        record: dict[str, Any] = {"zone": SERVER_ZONE, "versions": tool_versions(), "formats": {}}
        with httpx.Client(trust_env=False, timeout=30, follow_redirects=False) as client:
            for make in SERVERS:
                server = make(root, work)
                with running(server, work):
                    for variant in server.variants:
                        header = capture_variant(client, variant, folders, out)
                        record["formats"][variant.format] = {"server": header, "zone": variant.zone}
                    capture_errors(client, server.variants[0], out)
                print(f"captured {server.name}: {', '.join(v.format for v in server.variants)}")
        (out / "capture.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base)


if __name__ == "__main__":
    main()
