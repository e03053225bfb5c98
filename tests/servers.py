"""Real servers on 127.0.0.1 for the crawler's tests: a fault-injecting autoindex server, nginx.

:class:`AutoindexServer` serves a tree of files, described in memory, as nginx's autoindex
pages (the same layout, byte for byte in the parts parsers read), from a stdlib
``ThreadingHTTPServer`` on a free port in a thread. Per URL path it can be told to answer with
a status some number of times then recover, send ``Retry-After``, serve a login page with 200,
hang until the server stops, wait before answering, redirect, serve an oversized or
gzip-bombed page, cut a body short and close the connection, or add links. It records every
request (path, headers, connection, arrival time) so tests can count and check them, and
tracks how many requests were in flight at once.

:func:`nginx` starts the real nginx (Debian's package) on a free port with ``autoindex on``,
and any ``location`` blocks a test adds.
:class:`FakeTiming` drives the crawler's clock and sleeps, so backoff never waits.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

from monitor.crawl import Timing

MTIME = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

LOGIN_PAGE = b"""<!doctype html><html><head><title>Sign in</title></head><body>
<form method="post" action="/login"><input name="user"><input type="password" name="pw">
<a href="forgot/">Forgot your password?</a></form></body></html>"""


@dataclass
class Fault:
    """How to answer one URL path instead of serving the tree."""

    status: int = 500
    times: int | None = None  # answer this way N times, then serve normally; None: always
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False
    cut: int | None = None  # send only this many bytes of the body, then close
    close_delimited: bool = False  # no Content-Length: the closing marks the body's end


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    client: tuple[str, int]
    at: float = 0.0  # time.monotonic() when it came


def nginx_page(
    url_path: str, items: list[tuple[str, bool, int | str, datetime]], extra: str = ""
) -> bytes:
    """An nginx 1.22 autoindex page: (name, is_dir, size, mtime) per item, dirs first; a size
    given as text is printed as it is (``4.9K``, as ``autoindex_exact_size off`` prints)."""
    lines = [
        "<html>",
        f"<head><title>Index of {escape(url_path, quote=False)}</title></head>",
        "<body>",
        f'<h1>Index of {escape(url_path, quote=False)}</h1><hr><pre><a href="../">../</a>',
    ]
    ordered = sorted(items, key=lambda i: (not i[1], i[0].encode("utf-8", "surrogateescape")))
    for name, is_dir, size, mtime in ordered:
        raw = name.encode("utf-8", "surrogateescape")
        href = quote(raw, safe="") + ("/" if is_dir else "")
        text = raw.decode("utf-8", "replace") + ("/" if is_dir else "")
        shown = escape(text[:47] + "..>" if len(text) > 50 else text, quote=True)
        pad = " " * max(1, 51 - min(len(text), 50))
        when = mtime.astimezone(UTC).strftime("%d-%b-%Y %H:%M")
        lines.append(f'<a href="{href}">{shown}</a>{pad}{when}{"-" if is_dir else size:>20}')
    lines += [extra + "</pre><hr></body>", "</html>", ""]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


def _link_line(href: str) -> str:
    """An extra link as a line of nginx's listing (so the page stays in nginx's format)."""
    when = MTIME.strftime("%d-%b-%Y %H:%M")
    return f'<a href="{href}">{escape(href)}</a>{" " * max(1, 51 - len(href))}{when}{"-":>20}\r\n'


class AutoindexServer:
    """A fault-injecting autoindex server; use it as a context manager."""

    def __init__(
        self,
        files: dict[str, int | str],
        *,
        prefix: str = "/drop/",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.prefix = prefix
        self.scheme = "https" if tls is not None else "http"
        self.files = dict(files)
        self.faults: dict[str, Fault] = {}
        self.delays: dict[str, float] = {}  # URL path → seconds to wait before answering
        self.links: dict[str, list[str]] = {}
        self.requests: list[Seen] = []
        self.etags = False
        self.last_modified: str | None = None  # sent on listings, like a folder's mtime
        self.basic: str | None = None
        self.bearer: str | None = None
        self.digest: tuple[str, str] | None = None  # (username, password)
        self.in_flight = self.most_in_flight = self.proxied = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + self.prefix

    def __enter__(self) -> AutoindexServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    # --- what to serve ------------------------------------------------------------------------

    def path_of(self, folder: str) -> str:
        """The URL path of a folder of the tree ("" is the root)."""
        raw = folder.encode("utf-8", "surrogateescape")
        return self.prefix + (quote(raw) + "/" if folder else "")

    def fail(
        self, folder: str, status: int = 500, *, times: int | None = None, **kw: object
    ) -> None:
        self.faults[self.path_of(folder)] = Fault(status, times, **kw)  # type: ignore[arg-type]

    def login(self, folder: str) -> None:
        headers = {"Content-Type": "text/html; charset=utf-8"}
        self.faults[self.path_of(folder)] = Fault(200, None, headers, LOGIN_PAGE)

    def hang(self, folder: str) -> None:
        self.faults[self.path_of(folder)] = Fault(hang=True)

    def redirect(self, folder: str, location: str, status: int = 302) -> None:
        self.faults[self.path_of(folder)] = Fault(status, None, {"Location": location})

    def oversize(self, folder: str, size: int, *, compress: bool = False) -> None:
        body = nginx_page(self.path_of(folder), [], "<!--" + "x" * size + "-->")
        headers = {"Content-Type": "text/html"}
        if compress:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self.faults[self.path_of(folder)] = Fault(200, None, headers, body)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.path == path)

    def folders(self) -> set[str]:
        found = {""}
        for path in self.files:
            parts = path.rstrip("/").split("/")
            found.update("/".join(parts[:i]) for i in range(1, len(parts)))
            if path.endswith("/"):
                found.add(path.rstrip("/"))
        return found

    def items(self, folder: str) -> list[tuple[str, bool, int | str, datetime]]:
        prefix = folder + "/" if folder else ""
        found: dict[str, tuple[str, bool, int | str, datetime]] = {}
        for path, size in self.files.items():
            if not path.startswith(prefix) or path == prefix:
                continue
            name, _, rest = path[len(prefix) :].partition("/")
            found.setdefault(name, (name, bool(rest) or path.endswith("/"), size, MTIME))
        return list(found.values())


NONCE = "6f1e2d3c4b5a"


def _digest_ok(header: str, username: str, password: str) -> bool:
    """Check an RFC 7616 ``Digest`` answer (MD5, qop=auth) to this server's challenge."""
    if not header.startswith("Digest "):
        return False
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{username}:drop:{password}")
    ha2 = md5(f"GET:{fields.get('uri', '')}")
    parts = [ha1, NONCE, fields.get("nc", ""), fields.get("cnonce", ""), "auth", ha2]
    return fields.get("username") == username and fields.get("response") == md5(":".join(parts))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-autoindex/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def owner(self) -> AutoindexServer:
        return self.server.owner  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        owner = self.owner
        if self.path.startswith("http://"):  # asked as a proxy: serve the tree all the same
            owner.proxied += 1
            self.path = "/" + self.path.split("/", 3)[3]
        headers = {k.lower(): v for k, v in self.headers.items()}
        seen = Seen(self.path, headers, self.client_address, time.monotonic())
        with owner.lock:
            owner.requests.append(seen)
            owner.in_flight += 1
            owner.most_in_flight = max(owner.most_in_flight, owner.in_flight)
            fault = owner.faults.get(self.path)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times < 0:
                    fault = None
        try:
            self._answer(owner, fault)
        finally:
            with owner.lock:
                owner.in_flight -= 1

    def _answer(self, owner: AutoindexServer, fault: Fault | None) -> None:
        if self.path in owner.delays:
            owner.release.wait(owner.delays[self.path])
        if not self._authorised(owner):
            scheme = "Digest" if owner.digest else "Basic"
            challenge = f'{scheme} realm="drop", nonce="{NONCE}", qop="auth"'
            self._send(401, b"unauthorised", {"WWW-Authenticate": challenge})
        elif fault is not None and fault.hang:
            owner.release.wait(30)
            self.close_connection = True
        elif fault is not None and (fault.cut is not None or fault.close_delimited):
            self._send_cut(fault)
        elif fault is not None:
            self._send(fault.status, fault.body, fault.headers)
        else:
            self._serve_tree(owner)

    def _authorised(self, owner: AutoindexServer) -> bool:
        given = self.headers.get("Authorization")
        if owner.basic is not None:
            return given == owner.basic
        if owner.bearer is not None:
            return given == f"Bearer {owner.bearer}"
        if owner.digest is not None:
            return given is not None and _digest_ok(given, *owner.digest)
        return True

    def _serve_tree(self, owner: AutoindexServer) -> None:
        if not self.path.startswith(owner.prefix) or "?" in self.path:
            self._send(404, b"<html><title>404 Not Found</title></html>")
            return
        rel = unquote_to_bytes(self.path[len(owner.prefix) :]).decode("utf-8", "surrogateescape")
        folder = rel.removesuffix("/")
        if (rel and not rel.endswith("/")) or folder not in owner.folders():
            self._send(404, b"<html><title>404 Not Found</title></html>")
            return
        extra = "".join(_link_line(h) for h in owner.links.get(self.path, []))
        body = nginx_page(self.path, owner.items(folder), extra)
        headers = {"Content-Type": "text/html"}
        if owner.last_modified:
            headers["Last-Modified"] = owner.last_modified
        if owner.etags:
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            headers["ETag"] = etag
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", headers)
                return
        self._send(200, body, headers)

    def _send_cut(self, fault: Fault) -> None:
        """A body cut after ``fault.cut`` bytes (with the whole body's Content-Length unless
        close-delimited), then the connection closed."""
        self.send_response_only(fault.status)
        for name, value in fault.headers.items():
            self.send_header(name, value)
        if not fault.close_delimited:
            self.send_header("Content-Length", str(len(fault.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(fault.body[: fault.cut])
        self.wfile.flush()
        self.close_connection = True

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        headers = headers or {}
        self.send_response_only(status)
        self.send_header("Server", self.version_string())
        if "Date" not in headers:
            self.send_header("Date", self.date_time_string())
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)


# --- nginx -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "it") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds (no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


NGINX_CONF = """\
daemon off;
master_process off;
{user}
pid {state}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
  access_log {state}/access.log;
  client_body_temp_path {state}/tmp;
  proxy_temp_path {state}/tmp;
  fastcgi_temp_path {state}/tmp;
  uwsgi_temp_path {state}/tmp;
  scgi_temp_path {state}/tmp;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    autoindex on;
{locations}
  }}
}}
"""


@contextmanager
def nginx(root: Path, state: Path, locations: str = "") -> Iterator[str]:
    """nginx serving ``root`` with autoindex on a free port; yields its base URL.

    ``locations`` is added to the server block (``location = /x/ { return 302 /y/; }``).
    """
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
    )
    if binary is None:
        import pytest

        pytest.skip("nginx is not installed (Debian package: nginx)")
    (state / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = state / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(user=user, state=state, port=port, root=root, locations=locations)
    )
    process = subprocess.Popen(
        [binary, "-p", str(state), "-c", str(conf), "-e", "stderr"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _listening(port) or process.poll() is not None, what="nginx to listen")
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"nginx exited with {process.returncode}:\n{output}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_cert(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (Debian package: openssl)."""
    binary = shutil.which("openssl")
    if binary is None:
        import pytest

        pytest.skip("openssl is not installed (Debian package: openssl)")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    args += ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}"]
    subprocess.run(
        [binary, *args, "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


# --- time ------------------------------------------------------------------------------------


class FakeTiming:
    """A clock that moves only when the crawler sleeps; every sleep is recorded."""

    def __init__(self, *, jitter: float = 1.0, wall: datetime = MTIME) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.jitter = jitter
        self.wall = wall

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    @property
    def timing(self) -> Timing:
        return Timing(
            clock=self.clock, sleep=self.sleep, random=lambda: self.jitter, wall=lambda: self.wall
        )


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)
