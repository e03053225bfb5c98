"""CSRF, API tokens, the headers of every kind of response, and the Host check of auth="none"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from monitor.config import Settings
from monitor.web.security import CONTENT_SECURITY_POLICY, MAX_BODY, host_is_loopback
from tests.web.conftest import HTML, TOKEN, LiveApp, csrf_of, login, web_settings

Serve = Callable[..., LiveApp]
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_unsafe_requests_need_the_sessions_csrf_token(settings: Settings, serve: Serve) -> None:
    live = serve(settings)
    with live.client() as client, live.client() as other:
        login(client)
        token = csrf_of(client.get("/", headers=HTML))
        other_token = csrf_of(other.get("/login", headers=HTML))
        assert other_token != token
        for attempt in [
            {},  # none
            {"data": {"csrf_token": ""}},
            {"data": {"csrf_token": token[:-1] + ("A" if token[-1] != "A" else "B")}},
            {"data": {"csrf_token": other_token}},  # another session's
            {"headers": {"X-CSRF-Token": other_token}},
            {"json": {"csrf_token": token}},  # JSON bodies are not read for it: use the header
            {"data": {"csrf_token": "é" + token[1:]}},  # not ASCII: refused, not a crash
        ]:
            headers = {**HTML, **attempt.pop("headers", {})}
            response = client.post("/logout", headers=headers, **attempt)  # type: ignore[arg-type]
            assert response.status_code == 403, attempt
            assert "did not come from this site" in response.text
        assert client.get("/", headers=HTML).status_code == 200  # still logged in
        by_header = client.post("/logout", headers={"X-CSRF-Token": token})
        assert by_header.status_code == 303
        assert client.get("/", headers=HTML).status_code == 303


def test_login_form_itself_needs_the_token(settings: Settings, serve: Serve) -> None:
    with serve(settings).client() as client:
        client.get("/login", headers=HTML)
        form = {"username": "ana", "password": "correct horse battery staple"}
        assert client.post("/login", data=form, headers=HTML).status_code == 403


def test_api_tokens(settings: Settings, serve: Serve) -> None:
    live = serve(settings)
    with live.client() as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics").headers["www-authenticate"] == "Bearer"
        assert client.get("/api/openapi.json").status_code == 401
        assert client.get("/", headers=BEARER).status_code == 200
        assert client.get("/metrics", headers=BEARER).status_code == 200
        assert client.get("/api/openapi.json", headers=BEARER).json()["info"]["title"]
        # a script with a token needs no CSRF token
        assert client.post("/logout", headers=BEARER).status_code == 303
        wrong = {"Authorization": f"Bearer {TOKEN}x"}
        assert client.get("/", headers=wrong).status_code == 401
        assert client.post("/logout", headers=wrong).status_code == 401
        assert client.get("/", headers={"Authorization": "Basic YW5hOng="}).status_code == 401


def test_pages_redirect_to_login_and_json_clients_get_401(settings: Settings, serve: Serve) -> None:
    with serve(settings).client() as client:
        page = client.get("/?x=1", headers=HTML)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/%3Fx%3D1"
        assert client.get("/", headers={"Accept": "application/json"}).status_code == 401


def check_headers(response: httpx.Response, *, cacheable: bool = False) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, response.url
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "server" not in headers
    if not cacheable:
        assert headers["cache-control"] == "no-store", response.url


def test_every_response_has_the_security_headers(settings: Settings, serve: Serve) -> None:
    live = serve(settings)
    with live.client() as client:
        responses = {
            "login page": client.get("/login", headers=HTML),
            "redirect": client.get("/", headers=HTML),
            "401": client.get("/metrics"),
            "403": client.post("/logout", headers=HTML),
            "404 page": client.get("/no/such/page", headers=HTML),
            "404 json": client.get("/api/nothing"),
            "405": client.delete("/login", headers=BEARER),
            "healthz": client.get("/healthz"),
        }
        login(client)
        responses["dashboard"] = client.get("/", headers=HTML)
        responses["metrics"] = client.get("/metrics")
        expected = {"401": 401, "403": 403, "404 page": 404, "404 json": 404, "405": 405}
        for name, response in responses.items():
            assert response.status_code == expected.get(name, response.status_code), name
            check_headers(response)
        assert "Not Found" in responses["404 page"].text
        assert responses["404 json"].json() == {"detail": "Not Found"}
        for path, kind in [("/static/style.css", "text/css"), ("/static/app.js", "javascript")]:
            static = client.get(path)
            assert static.status_code == 200 and kind in static.headers["content-type"]
            check_headers(static, cacheable=True)
        assert client.get("/static/nothing.css").status_code == 404
        check_headers(client.get("/static/../deps.py"))


def test_templates_have_no_inline_script_or_style(settings: Settings, serve: Serve) -> None:
    with serve(settings).client() as client:
        login(client)
        for page in [client.get("/", headers=HTML), client.get("/nothing", headers=HTML)]:
            text = page.text.lower()
            assert "<script>" not in text and "<style" not in text and "style=" not in text
            assert " on" + "click=" not in text and "javascript:" not in text
            assert text.count("<script") == text.count('<script src="/static/')


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_auth_none_is_refused_off_loopback(tmp_path: Path, bind: str) -> None:
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        web_settings(tmp_path, "sqlite://", auth="none", bind=bind)
    assert 'auth = "none" is only allowed when bind is a loopback address' in str(caught.value)
    assert "web:" in str(caught.value)


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_auth_none_on_loopback(tmp_path: Path, bind: str) -> None:
    assert web_settings(tmp_path, "sqlite://", auth="none", bind=bind).web.auth == "none"


def test_auth_none_answers_only_to_loopback_host_names(tmp_path: Path, serve: Serve) -> None:
    settings = web_settings(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", auth="none")
    live = serve(settings)
    port = live.server.port
    with live.client() as client:
        good = [f"127.0.0.1:{port}", "localhost", f"localhost:{port}", "[::1]:80", "127.9.9.9"]
        for host in good:
            page = client.get("/", headers={**HTML, "Host": host})
            assert page.status_code == 200, host
            assert '<span class="user">local</span>' in page.text
        for host in ["evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "[::2]"]:
            refused = client.get("/", headers={"Host": host})
            assert refused.status_code == 400, host
            check_headers(refused)
        assert client.get("/healthz", headers={"Host": "rebound.example"}).status_code == 400


def test_foreign_hosts_may_log_in_with_a_password(settings: Settings, serve: Serve) -> None:
    with serve(settings).client() as client:
        assert client.get("/login", headers={"Host": "monitor.example.org"}).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST:8080", True),
        ("127.0.0.1:1", True),
        ("[::1]", True),
        ("[::1]:8080", True),
        ("::1", False),  # not a valid Host header
        ("[::1]x", False),
        ("127.0.0.1:x", False),
        ("", False),
        (None, False),
        ("localhost.evil.example", False),
    ],
)
def test_host_is_loopback(host: str | None, loopback: bool) -> None:
    assert host_is_loopback(host) is loopback


def test_request_bodies_past_the_limit_are_refused_unread(settings: Settings, serve: Serve) -> None:
    live = serve(settings)
    with live.client() as client:
        too_long = client.post("/login", content=b"x" * (MAX_BODY + 1), headers=HTML)
        assert too_long.status_code == 413
        assert too_long.headers["x-content-type-options"] == "nosniff"
        # no length given (chunked): cut once it has grown past the limit
        chunks = (b"y" * 65536 for _ in range(MAX_BODY // 65536 + 2))
        form = {**HTML, "Content-Type": "application/x-www-form-urlencoded"}
        streamed = client.post("/login", content=chunks, headers=form)
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code in (400, 413)  # FastAPI calls a body it cannot read a 400
        assert client.post("/login", content=b"x" * 100, headers=HTML).status_code == 403
