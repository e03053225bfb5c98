"""Headers on every response, and the Host check of a UI without login.

Every response (pages, errors, static files, JSON) gets a strict Content-Security-Policy (no
inline script or style, nothing from another origin), ``nosniff``, no referrer, no framing. A
response that sets one of these itself keeps its own (archived bodies set a sandboxing CSP).
Responses are not cached unless they say so (static files may be).

With ``auth = "none"`` the UI trusts whoever reaches it, which only the machine itself can
(it is bound to loopback). A web page elsewhere could still make a browser on this machine
send requests to it under its own host name that resolves to 127.0.0.1 (DNS rebinding): so
a request whose ``Host`` is not a loopback name or address is refused with 400.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.config import is_loopback

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
#: The largest request body read (a review note, a bulk review's ids, a login): anything longer
#: is refused with 413 before a route (or the CSRF check, or the login) reads it.
MAX_BODY = 1024 * 1024
#: Paths whose responses may be cached (they hold nothing about the watched servers).
CACHEABLE_PREFIXES = ("/static/",)


def host_is_loopback(host_header: str | None) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost``, ``127.x.y.z`` or
    ``[::1]``, with or without a port."""
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):
        inside, closed, rest = host[1:].partition("]")
        if not closed or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return False
        return is_loopback(inside)
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return False
    return is_loopback(name)


class _TooLarge(Exception):
    """A request body grew past the limit while it was read."""


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every response; refuses foreign hosts if asked to,
    and request bodies longer than ``max_body`` (413)."""

    def __init__(
        self, app: ASGIApp, *, loopback_hosts_only: bool = False, max_body: int = MAX_BODY
    ) -> None:
        self.app = app
        self.loopback_hosts_only = loopback_hosts_only
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if "cache-control" not in headers and not cacheable:
                    headers["cache-control"] = "no-store"
            await send(message)

        headers = Headers(scope=scope)
        if self.loopback_hosts_only and not host_is_loopback(headers.get("host")):
            refuse = PlainTextResponse(
                "This address only answers to localhost, 127.0.0.1 or [::1].\n", status_code=400
            )
            await refuse(scope, receive, send_with_headers)
            return
        length = headers.get("content-length")
        too_large = PlainTextResponse("The request body is too large.\n", status_code=413)
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await too_large(scope, receive, send_with_headers)
            return
        received = 0
        started = False

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:  # a chunked body without a length
                    raise _TooLarge
            return message

        async def send_started(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive_limited, send_started)
        except _TooLarge:
            if started:
                raise
            await too_large(scope, receive, send_with_headers)
