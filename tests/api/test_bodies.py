"""Archived bodies over the API: attachments, raster images inline only, text as text/plain."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from sqlalchemy import select

from monitor.store.queries import capture_t
from tests.api.conftest import PAGE, PNG, TEXT, Api
from tests.views.conftest import HOSTILE


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_bodies_are_attachments_and_only_images_go_inline(api: Api) -> None:
    files = api.get("/api/batches", params={"start": "2026-11-25"})["items"]
    ep05 = next(b for b in files if b["folder"] == "ep05")
    archived = {
        f["path"]: f["archive"] for f in api.get(f"/api/batches/{ep05['id']}/files")["items"]
    }
    assert archived["ep05/pic.png"]["sha256"] == sha(PNG)
    assert archived["ep05/pic.png"]["mime"] == "image/png"
    with api.token() as client:
        png = client.get(f"/api/blobs/{sha(PNG)}", params={"inline": "true"})
        download = client.get(f"/api/blobs/{sha(PNG)}")
        page = client.get(f"/api/blobs/{sha(PAGE)}", params={"inline": "true"})
        hostile = client.get(f"/api/blobs/{sha(b'p' * 50)}")
    assert png.content == PNG and png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"].startswith('inline; filename="pic.png"')
    assert download.headers["content-disposition"].startswith('attachment; filename="pic.png"')
    assert download.headers["content-type"] == "application/octet-stream"
    assert page.content == PAGE and page.headers["content-type"] == "application/octet-stream"
    assert page.headers["content-disposition"].startswith("attachment;")
    for response in (png, download, page, hostile):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"].startswith("sandbox")
    assert hostile.status_code == 200, hostile.text
    disposition = hostile.headers["content-disposition"]
    assert "<" not in disposition and ">" not in disposition
    assert disposition == (
        'attachment; filename="_img src=x onerror=alert(1)_.png"; '
        "filename*=UTF-8''" + quote(HOSTILE.rsplit("/", 1)[1], safe="")
    )


def test_text_previews_are_plain_text(api: Api) -> None:
    with api.token() as client:
        text = client.get(f"/api/blobs/{sha(TEXT)}/preview")
        page = client.get(f"/api/blobs/{sha(PAGE)}/preview")
        image = client.get(f"/api/blobs/{sha(PNG)}/preview")
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == TEXT.decode("utf-8", errors="replace")
    assert text.headers["x-preview-truncated"] == "false"
    if page.status_code == 200:  # an HTML page detected as text: shown as text, never run
        assert page.headers["content-type"] == "text/plain; charset=utf-8"
        assert page.text == PAGE.decode()
    else:
        assert page.status_code == 404
    assert page.headers["content-security-policy"].startswith("sandbox")
    assert image.status_code == 404 and "image/png" in image.json()["detail"]


def test_capture_bodies_and_missing_ones(api: Api) -> None:
    with api.world.store.read() as conn:
        captures = {
            str(r.path): (int(r.id), r.status)
            for r in conn.execute(select(capture_t.c.id, capture_t.c.path, capture_t.c.status))
        }
    capture_id, status = captures["ep05/notes.txt"]
    assert status == "complete"
    with api.token() as client:
        body = client.get(f"/api/captures/{capture_id}/body")
        assert body.content == TEXT
        assert body.headers["content-disposition"].startswith('attachment; filename="notes.txt"')
        assert client.get("/api/captures/99999/body").status_code == 404
        assert client.get(f"/api/blobs/{'0' * 64}").status_code == 404
        assert client.get("/api/blobs/not-a-hash").status_code == 422
        # A blob the database names but the store lost: 404, not a crash.
        store = api.world.settings.data_dir / "blobs"
        for path in store.rglob(sha(TEXT)):
            path.unlink()
        lost = client.get(f"/api/blobs/{sha(TEXT)}")
        assert lost.status_code == 404 and sha(TEXT) in lost.json()["detail"]
