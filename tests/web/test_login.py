"""Logging in and out through a real server: the session cookie, generic errors, the limit."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import time_machine

from monitor.config import Settings
from tests.helpers import T0, Clock
from tests.web.conftest import HTML, PASSWORD, LiveApp, csrf_of, login

Serve = Callable[..., LiveApp]


def cookie_attributes(header: str) -> dict[str, str]:
    """The attributes of a Set-Cookie header, names lower-cased (flags map to "")."""
    parts = [p.strip() for p in header.split(";")]
    return {p.partition("=")[0].lower(): p.partition("=")[2] for p in parts[1:]}


def test_login_sets_a_lax_session_cookie_and_lands_on_next(
    settings: Settings, serve: Serve
) -> None:
    live = serve(settings)
    with live.client() as client:
        first = client.get("/", headers=HTML)
        assert first.status_code == 303 and first.headers["location"] == "/login"
        page = client.get("/login?next=/batches/3%3Fx", headers=HTML)
        form = {
            "username": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(page),
            "next": "/batches/3",
        }
        done = client.post("/login", data=form, headers=HTML)
        assert done.status_code == 303 and done.headers["location"] == "/batches/3"
        attrs = cookie_attributes(done.headers["set-cookie"])
        assert set(attrs) == {"max-age", "path", "httponly", "samesite"}  # no Secure on http
        assert attrs["samesite"] == "Lax" and attrs["path"] == "/"
        assert attrs["max-age"] == str(12 * 3600)
        home = client.get("/", headers=HTML)
        assert home.status_code == 200
        assert '<span class="user">ana</span>' in home.text
        assert "Nothing is watched yet" in home.text


def test_cookie_is_secure_over_https(settings: Settings, serve: Serve) -> None:
    web = settings.web.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    live = serve(settings.model_copy(update={"web": web}))
    # the scheme comes from X-Forwarded-Proto, sent by a trusted proxy on 127.0.0.1
    with live.client(headers={"X-Forwarded-Proto": "https"}) as client:
        response = client.get("/login", headers=HTML)
        attrs = cookie_attributes(response.headers["set-cookie"])
        assert "secure" in attrs and attrs["samesite"] == "Lax" and "httponly" in attrs


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(
    settings: Settings, serve: Serve
) -> None:
    live = serve(settings, clock=Clock())
    with live.client(headers={"X-Forwarded-Proto": "https"}) as client:
        attrs = cookie_attributes(client.get("/login", headers=HTML).headers["set-cookie"])
        assert "secure" not in attrs
    codes = []
    for i in range(6):  # each try claims another address: all count for the real one
        with live.client(headers={"X-Forwarded-For": f"10.0.0.{i}"}) as client:
            codes.append(login(client, password="wrong").status_code)
    assert codes == [401] * 5 + [429]


def test_next_never_leaves_the_site(settings: Settings, serve: Serve) -> None:
    live = serve(settings)
    for target in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "x"]:
        with live.client() as client:
            token = csrf_of(client.get("/login", headers=HTML))
            form = {"username": "ana", "password": PASSWORD, "csrf_token": token, "next": target}
            done = client.post("/login", data=form, headers=HTML)
            assert done.headers["location"] == "/", target


def test_failures_are_generic_and_limited_per_address(settings: Settings, serve: Serve) -> None:
    clock = Clock()
    live = serve(settings, clock=clock)
    with live.client() as client:
        unknown = login(client, user="nobody")
        wrong = login(client, password="not it")
        assert unknown.status_code == wrong.status_code == 401
        assert "Wrong user name or password." in unknown.text
        assert unknown.text.count("Wrong") == wrong.text.count("Wrong") == 1
        assert "nobody" not in unknown.text  # the page says nothing about the name
        for _ in range(3):
            assert login(client, password="still not").status_code == 401
        limited = login(client)  # the right password, but too late
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) == 15 * 60
        assert "Too many failed logins" in limited.text
        assert client.get("/", headers=HTML).status_code == 303
        clock.advance(minutes=14, seconds=59)
        assert login(client).status_code == 429
        clock.advance(seconds=1)
        assert login(client).status_code == 303
        assert client.get("/", headers=HTML).status_code == 200


def test_logout_needs_the_csrf_token_and_ends_the_session(settings: Settings, serve: Serve) -> None:
    live = serve(settings)
    with live.client() as client:
        assert login(client).status_code == 303
        home = client.get("/", headers=HTML)
        assert client.post("/logout", headers=HTML).status_code == 403
        assert client.get("/", headers=HTML).status_code == 200
        out = client.post("/logout", data={"csrf_token": csrf_of(home)}, headers=HTML)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert cookie_attributes(out.headers["set-cookie"])["max-age"] == "0"
        assert client.get("/", headers=HTML).status_code == 303


def test_session_expires_after_session_max_age(settings: Settings, serve: Serve) -> None:
    short = settings.model_copy(
        update={"web": settings.web.model_copy(update={"session_max_age": timedelta(hours=1)})}
    )
    live = serve(short)
    with time_machine.travel(T0, tick=True) as traveller, live.client() as client:
        assert login(client).status_code == 303
        traveller.shift(timedelta(minutes=59))
        assert client.get("/", headers=HTML).status_code == 200
        traveller.shift(timedelta(minutes=2))
        assert client.get("/", headers=HTML).status_code == 303


def test_a_changed_password_ends_old_sessions(
    settings: Settings, serve: Serve, password_hash: str
) -> None:
    from monitor.web.passwords import hash_password

    with serve(settings).client() as client:
        assert login(client).status_code == 303
        cookie = client.cookies["monitor_session"]
    users = [{"name": "ana", "password_hash": hash_password(PASSWORD, n=2**14)}]
    changed = settings.model_copy(
        update={"web": settings.web.model_validate({**settings.web.model_dump(), "users": users})}
    )
    with serve(changed).client(cookies={"monitor_session": cookie}) as client:
        assert client.get("/", headers=HTML).status_code == 303
    with serve(settings).client(cookies={"monitor_session": cookie}) as client:
        assert client.get("/", headers=HTML).status_code == 200  # same key, same password


def test_a_forged_cookie_is_ignored(settings: Settings, serve: Serve) -> None:
    import base64
    import json

    live = serve(settings)
    with live.client() as client:
        login(client)
        value = client.cookies["monitor_session"]
    _, _, rest = value.partition(".")
    forged = json.dumps({"user": "root", "pw": "x"}) + "." + rest
    for cookie in [forged, value[:-2] + "AA", base64.b64encode(b"{}").decode()]:
        with live.client(cookies={"monitor_session": cookie}) as client:
            assert client.get("/", headers=HTML).status_code == 303


def test_parallel_tries_are_counted_before_the_password_check(
    settings: Settings, serve: Serve
) -> None:
    """Eight wrong passwords at once from one address: five are checked, three refused."""
    live = serve(settings, clock=Clock())
    clients = [live.client() for _ in range(8)]
    try:
        tokens = [csrf_of(c.get("/login", headers=HTML)) for c in clients]

        def attempt(i: int) -> int:
            form = {"username": "ana", "password": "wrong", "csrf_token": tokens[i], "next": "/"}
            return clients[i].post("/login", data=form, headers=HTML).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = sorted(pool.map(attempt, range(8)))
    finally:
        for c in clients:
            c.close()
    assert codes == [401] * 5 + [429] * 3
