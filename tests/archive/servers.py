"""A fault-injecting server that also serves file bodies, for the archive's tests.

:class:`FileServer` is the crawler tests' :class:`~tests.servers.AutoindexServer` (nginx-like
listings, faults per URL path: statuses N times, cut bodies, hangs…) whose files also have
bodies: ``GET`` on a file's URL answers its bytes. What the listing shows (``files``: path →
size) and what a download gives (``bodies``) are set apart, so a test can make them disagree.
:func:`python_http` is Python's own file server, whose listings give no sizes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import format_datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote_to_bytes

from tests.servers import MTIME, AutoindexServer, _Handler


class _FileHandler(_Handler):
    def _serve_tree(self, owner: AutoindexServer) -> None:
        assert isinstance(owner, FileServer)
        if self.path.startswith(owner.prefix) and "?" not in self.path:
            raw = unquote_to_bytes(self.path[len(owner.prefix) :])
            rel = raw.decode("utf-8", "surrogateescape")
            body = owner.bodies.get(rel)
            if body is not None:
                headers = {"Content-Type": "application/octet-stream"}
                headers["Last-Modified"] = owner.last_modified_of.get(
                    rel, format_datetime(MTIME, usegmt=True)
                )
                self._send(200, body, headers)
                return
        super()._serve_tree(owner)


class FileServer(AutoindexServer):
    """An autoindex server whose files have bodies (see the module docstring)."""

    def __init__(self, bodies: dict[str, bytes], **kw: object) -> None:
        super().__init__({p: len(b) for p, b in bodies.items()}, **kw)  # type: ignore[arg-type]
        self.bodies = dict(bodies)
        self.last_modified_of: dict[str, str] = {}
        self.httpd.RequestHandlerClass = _FileHandler

    def set(self, path: str, body: bytes, *, listed: int | str | None = None) -> None:
        """Serve ``body`` at ``path``, listed with its size (or ``listed``: a size, or the
        text to print for it)."""
        self.bodies[path] = body
        self.files[path] = len(body) if listed is None else listed

    def remove(self, path: str) -> None:
        self.bodies.pop(path, None)
        self.files.pop(path, None)

    def file_url_path(self, path: str) -> str:
        from urllib.parse import quote

        return self.prefix + quote(path.encode("utf-8", "surrogateescape"))


@contextmanager
def python_http(root: Path) -> Iterator[str]:
    """Python's ``http.server`` serving ``root`` on a free port (its listings give names only:
    no sizes, no times); yields its base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
