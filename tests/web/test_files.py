"""Archived bodies: attachments with safe names, only raster images inline, sandboxed."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI

from monitor.web.files import archived_body, content_disposition, header_file_name

HOSTILE = "<img src=x onerror=alert(1)>.png"


EXT_VALUE = re.compile(r"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]*)$")


def filename_of(disposition: str) -> str:
    """The name a browser reads: ``filename*`` (RFC 5987), which wins over ``filename``."""
    match = EXT_VALUE.search(disposition)
    assert match, disposition
    return unquote(match.group(1), errors="strict")


@pytest.mark.parametrize(
    ("path", "offered"),
    [
        (HOSTILE, HOSTILE),
        ("../../etc/passwd", "passwd"),
        ("a\\..\\..\\win.ini", "win.ini"),
        ("..", "download"),
        ("dir/", "download"),
        ("evil\r\nSet-Cookie: x=1.txt", "evil__Set-Cookie: x=1.txt"),
        ('quote".pdf', "quote_.pdf"),
        ("résumé 2026 \u2013 日本語.pdf", "résumé 2026 \u2013 日本語.pdf"),
        ("bad\udcff\u202egnp.exe", "bad__gnp.exe"),
        ("x" * 300 + ".tar.gz", "x" * 147 + ".gz"),
    ],
)
def test_offered_names(path: str, offered: str) -> None:
    assert header_file_name(path) == offered
    disposition = content_disposition(path)
    assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    assert disposition.startswith("attachment; filename=")
    assert filename_of(disposition) == offered


def test_ascii_fallback_has_nothing_to_misread() -> None:
    disposition = content_disposition('100% ünïcode;name="x".txt')
    plain = disposition.split('filename="')[1].split('"')[0]
    assert plain == "100_ _n_code_name=_x_.txt"
    assert "filename*=UTF-8''100%25%20%C3%BCn%C3%AFcode%3Bname%3D_x_.txt" in disposition


@pytest.mark.parametrize(
    ("media_type", "inline"),
    [
        ("image/png", True),
        ("image/jpeg", True),
        ("IMAGE/GIF", True),
        ("image/webp; q=1", True),
        ("image/svg+xml", False),
        ("text/html", False),
        ("text/plain", False),
        ("application/pdf", False),
        (None, False),
    ],
)
def test_only_raster_images_go_inline(media_type: str | None, inline: bool) -> None:
    response = archived_body(b"body", name=HOSTILE, media_type=media_type, inline=True)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("inline;" if inline else "attachment;")
    kind = response.headers["content-type"]
    assert (kind == "application/octet-stream") is not inline
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox")
    never = archived_body(b"body", name="a.png", media_type=media_type)
    assert never.headers["content-disposition"].startswith("attachment;")


def test_served_through_the_app(settings: object, serve: object) -> None:
    """Streamed from a blob store's chunks over a real socket, its headers left as they are."""
    from monitor.web.app import build_app
    from monitor.web.server import WebServer
    from tests.web.conftest import LiveApp

    app = build_app(settings)  # type: ignore[arg-type]
    add_route(app)
    live = LiveApp(WebServer(app, bind="127.0.0.1", port=0))
    try:
        with httpx.Client(base_url=live.url) as client:
            got = client.get("/blob")
            assert got.content == b"<svg onload=alert(1)>" * 1000
            assert got.headers["content-length"] == str(21 * 1000)
            assert got.headers["content-type"] == "application/octet-stream"
            assert got.headers["content-security-policy"].startswith("sandbox")
            assert filename_of(got.headers["content-disposition"]) == "x.svg"
            assert got.headers["x-frame-options"] == "DENY"  # the app's headers too
    finally:
        live.stop()


def add_route(app: FastAPI) -> None:
    def chunks() -> object:
        for _ in range(1000):
            yield b"<svg onload=alert(1)>"

    @app.get("/blob")
    def blob() -> object:
        body = chunks()
        return archived_body(
            body,  # type: ignore[arg-type]
            name="a/b/x.svg",
            media_type="image/svg+xml",
            size=21000,
            inline=True,
        )
