"""Serving the app with uvicorn: alone (``monitor serve``) or inside ``monitor run``.

The listening socket is bound before anything else starts, so a port in use is a clear
error at once, and port 0 (any free port) gives a URL to log. uvicorn is told to leave the
process's signals alone: ``monitor serve`` and the daemon handle SIGTERM and SIGINT
themselves and stop the server through :meth:`WebServer.stop`.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from monitor.errors import MonitorError

#: Longest the server waits for requests in flight when it stops.
GRACEFUL_S = 10


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers (the process has its own)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(bind: str, port: int) -> socket.socket:
    """A socket listening on ``bind``:``port``; MonitorError naming the address if it can't."""
    try:
        infos = socket.getaddrinfo(
            bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
        family, _, _, _, address = infos[0]
        sock = socket.create_server(address[:2], family=family, backlog=128)
    except OSError as exc:
        raise MonitorError(f"cannot serve the web UI on {bind}:{port}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


class WebServer:
    """One app served on one socket."""

    def __init__(
        self, app: FastAPI, *, bind: str, port: int, trusted_proxies: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.sock = listen(bind, port)
        self.port = int(self.sock.getsockname()[1])
        host = f"[{bind}]" if ":" in bind else bind
        self.url = f"http://{host}:{self.port}/"
        config = uvicorn.Config(
            app,
            http="h11",
            ws="none",
            lifespan="on",
            log_config=None,
            access_log=False,
            # X-Forwarded-* only from the configured proxies: on the default loopback bind
            # every client would otherwise choose its own address for the login limit.
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=list(trusted_proxies) or None,
            server_header=False,
            timeout_graceful_shutdown=GRACEFUL_S,
        )
        self.server = _Server(config)
        self.task: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        """Serve until :meth:`request_stop`; the socket is closed after."""
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self) -> asyncio.Task[None]:
        """Serve in a task of the running loop."""
        self.task = asyncio.get_running_loop().create_task(self.serve(), name="web")
        return self.task

    def request_stop(self) -> None:
        self.server.should_exit = True

    async def stop(self) -> None:
        """Stop taking connections, let requests in flight finish, wait for the task."""
        self.request_stop()
        if self.task is not None:
            await asyncio.shield(self.task)


def serve_until_signal(server: WebServer, on_ready: Callable[[str], None]) -> None:
    """Serve in a new event loop until SIGTERM or SIGINT (``monitor serve``)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, server.request_stop)
        on_ready(server.url)
        await server.serve()

    asyncio.run(main())
