"""The web UI: ``serve``, ``web-password``."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from monitor.cli.base import app, app_of, err
from monitor.errors import UsageError


@app.command()
def serve(
    ctx: typer.Context,
    bind: Annotated[
        str | None, typer.Option("--bind", help="Address to listen on (default: [web] bind).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port (default: [web] port; 0: any free)."),
    ] = None,
) -> None:
    """Serve the web UI (without polling: `monitor run` serves it too, with the daemon).

    Listens on 127.0.0.1:8080 unless [web] or the options say otherwise; prints the URL.
    SIGTERM or SIGINT stops it.

    Example: monitor --config monitor.toml serve --port 8081
    """
    from monitor.config import Web
    from monitor.web import create_app
    from monitor.web.server import WebServer, serve_until_signal

    settings = app_of(ctx).settings
    if bind is not None or port is not None:
        changed = settings.web.model_dump() | {
            k: v for k, v in (("bind", bind), ("port", port)) if v is not None
        }
        try:
            web = Web.model_validate(changed)
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise UsageError(message) from exc
        settings = settings.model_copy(update={"web": web})
    web = settings.web
    server = WebServer(
        create_app(settings), bind=web.bind, port=web.port, trusted_proxies=web.trusted_proxies
    )

    def ready(url: str) -> None:
        err.print(f"Serving the web UI at {url} (Ctrl-C stops it)", highlight=False)

    serve_until_signal(server, ready)


@app.command("web-password")
def web_password(
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password from standard input (one line).")
    ] = False,
    token: Annotated[
        bool, typer.Option("--token", help="Make a new API token instead; print it and its hash.")
    ] = False,
) -> None:
    """Hash a password for [[web.users]] (asked twice, not echoed), or make an API token.

    Prints the line to paste into the config. With --token, prints the new token (give it to
    the script: Authorization: Bearer <token>; it is not shown again) and its token_hash.

    Example: monitor web-password   (then: password_hash = "scrypt$...")
    """
    from monitor.web.passwords import hash_password, hash_token, new_token

    if token:
        made = new_token()
        typer.echo(f"token: {made}")
        typer.echo(f'token_hash = "{hash_token(made)}"')
        return
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("the two passwords differ")
    if not password:
        raise UsageError("the password is empty")
    typer.echo(f'password_hash = "{hash_password(password)}"')
