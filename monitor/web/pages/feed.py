"""The Atom feed of new batches at ``/feed.atom`` (``?target=`` for one target).

One entry per batch, newest first (:data:`ENTRIES`), linking to its page ``/batches/{id}``.
Ids and links are absolute URLs under ``[notify] base_url`` when it is set (the address
analysts reach the UI at), else under the address the request came to.

Authentication is the UI's: in the browser the session cookie is enough; a feed reader or a
script sends an API token (``[[web.api_tokens]]``) as ``Authorization: Bearer <token>`` and
gets 401 without one. Tokens never go in the URL, where logs and proxies would keep them.

Everything in it is XML-escaped by :mod:`xml.etree.ElementTree`; file and folder names go
through :func:`~monitor.web.pages._overview.shown` first, so the characters XML 1.0 cannot
hold (control characters, undecodable bytes) arrive as visible escapes.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response

from monitor.config import Settings
from monitor.views.feed import Feed, FeedEntry, newest_batches
from monitor.web.deps import CurrentUser, SettingsDep, StoreDep
from monitor.web.pages._overview import now_of, shown, size, view_errors, zone_of

router = APIRouter(include_in_schema=False)

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
ENTRIES = 50


@router.get("/feed.atom", name="feed")
def feed(
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
    target: str | None = None,
) -> Response:
    with view_errors(), store.read() as conn:
        view = newest_batches(conn, zone=zone_of(request), target=target or None, limit=ENTRIES)
    base = site_url(request, settings)
    self_url = f"{base}/feed.atom" + (f"?{urlencode({'target': target})}" if target else "")
    body = atom_document(view, base=base, self_url=self_url, target=target, now=now_of(request))
    return Response(body, media_type=MEDIA_TYPE, headers={"Cache-Control": "private, no-cache"})


def site_url(request: Request, settings: Settings) -> str:
    """Where the UI is, without a trailing slash: ``[notify] base_url`` or the request's."""
    return (settings.notify.base_url or str(request.base_url)).rstrip("/")


def atom_document(
    view: Feed, *, base: str, self_url: str, target: str | None, now: datetime
) -> bytes:
    """The feed as Atom 1.0 (RFC 4287) bytes."""
    root = ET.Element("feed", xmlns=ATOM)
    of = f" of {target}" if target else ""
    _text(root, "id", self_url)
    _text(root, "title", f"filedrop-monitor: new batches{of}")
    _text(root, "updated", (view.updated_at or now).isoformat())
    _link(root, self_url, rel="self", type="application/atom+xml")
    _link(root, f"{base}/", rel="alternate", type="text/html")
    author = ET.SubElement(root, "author")
    _text(author, "name", "filedrop-monitor")
    _text(root, "generator", "filedrop-monitor")
    for entry in view.entries:
        _entry(root, entry, base)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text


def _entry(root: ET.Element, batch: FeedEntry, base: str) -> None:
    url = f"{base}/batches/{batch.id}"
    files = f"{batch.files:,} file{'' if batch.files == 1 else 's'}"
    folder = shown(batch.folder) or "(root)"
    entry = ET.SubElement(root, "entry")
    _text(entry, "id", url)
    _text(entry, "title", f"{batch.target}: {folder} — {files}, {size(batch.bytes)}")
    _text(entry, "published", batch.opened_at.isoformat())
    _text(entry, "updated", batch.updated_at.isoformat())
    _link(entry, url, rel="alternate", type="text/html")
    ET.SubElement(entry, "category", term=batch.target)
    state = "settled" if batch.settled_at is not None else "still arriving"
    review = batch.review + (f" by {batch.reviewed_by}" if batch.reviewed_by else "")
    summary = (
        f"Batch {batch.id} of {batch.target} in {folder}: {files} ({batch.bytes:,} bytes), "
        f"first file at {batch.opened_at.isoformat()}; {state}; review: {review}."
    )
    _text(entry, "summary", summary)


def _text(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, name)
    element.text = text
    return element


def _link(parent: ET.Element, href: str, *, rel: str, type: str) -> None:
    ET.SubElement(parent, "link", {"href": href, "rel": rel, "type": type})
