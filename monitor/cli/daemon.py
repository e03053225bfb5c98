"""The daemon: ``run``."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from monitor.cli.base import app, app_of

LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]


@app.command()
def run(
    ctx: typer.Context,
    log_format: Annotated[
        LogFormat | None,
        typer.Option("--log-format", help="text or json lines (default: [daemon] log_format)."),
    ] = None,
    log_level: Annotated[
        LogLevel | None,
        typer.Option("--log-level", help="debug, info, warning or error ([daemon] log_level)."),
    ] = None,
    no_web: Annotated[
        bool, typer.Option("--no-web", help="Do not serve the web UI ([web]) from the daemon.")
    ] = False,
) -> None:
    """Run the daemon: poll each target on its schedule, send alerts and the daily digest.

    Serves the web UI ([web], logged with its URL) unless --no-web. Logs one line per poll
    to stderr. SIGTERM or SIGINT stops it (polls in flight get
    [daemon] grace to finish; a second signal stops them at once); a change to the config
    file, or SIGHUP, reloads the config. One daemon per database: a second one exits 1.

    Example: monitor --config monitor.toml run --log-format json
    """
    from monitor.daemon import run_daemon

    obj = app_of(ctx)
    code = run_daemon(
        obj.config_path,
        obj.settings,
        log_format=log_format,
        log_level=log_level,
        web=not no_web,
    )
    if code:
        raise typer.Exit(code)
