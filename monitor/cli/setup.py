"""Setting up: ``init``, ``check`` and ``db upgrade``."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.base import App, FormatOpt, app, app_of
from monitor.config import settings_from_dict
from monitor.errors import ConfigError, MonitorError
from monitor.output import Column, Format, emit
from monitor.sources import make_source
from monitor.store import upgrade_schema

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")

_STARTER = """\
# filedrop-monitor configuration (see config.example.toml for every setting)
data_dir = "monitor-data"
timezone = {zone}

[defaults]
every = "30m"
settle = "1h"

# The web UI of `monitor run` and `monitor serve`: on this machine only, without login. To
# open it to others, bind another address with auth = "password" and [[web.users]] (hashes
# from `monitor web-password`); see config.example.toml.
[web]
bind = "127.0.0.1"
port = 8080
auth = "none"

[[target]]
name = {name}
kind = "local"
path = {path}
"""


@app.command()
def init(
    ctx: typer.Context,
    watch: Annotated[Path, typer.Option(help="Folder the first target watches.")] = Path("drop"),
    name: Annotated[str, typer.Option(help="Name of the first target.")] = "drop",
    timezone: Annotated[str, typer.Option(help="Time zone for day boundaries.")] = "UTC",
    force: Annotated[bool, typer.Option(help="Overwrite an existing config file.")] = False,
) -> None:
    """Write a starter config with one local target and create the database.

    Example: monitor init --watch ./drop --timezone Europe/Paris
    """
    obj = app_of(ctx)
    if obj.config_path.exists() and not force:
        raise ConfigError(f"{obj.config_path} exists already (use --force to overwrite it)")
    folder = watch.expanduser().absolute()
    text = _STARTER.format(
        zone=_toml_string(timezone), name=_toml_string(name), path=_toml_string(str(folder))
    )
    settings_from_dict(tomllib.loads(text), path=obj.config_path, environ={})  # validate first
    obj.config_path.write_text(text, encoding="utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    obj.store()
    typer.echo(f"wrote {obj.config_path}; database {obj.settings.database_url}")
    typer.echo(f"watching {folder}: put files there, then run 'monitor poll'")
    typer.echo("'monitor run' or 'monitor serve' shows the web UI at http://127.0.0.1:8080/")


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's ("$" doubled so ${ stays literal)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"{value!r} is not valid UTF-8 and cannot go in a config file") from exc
    return json.dumps(value.replace("${", "$${"), ensure_ascii=True)


@app.command()
def check(
    ctx: typer.Context,
    fmt: FormatOpt = Format.table,
    smtp: Annotated[
        bool,
        typer.Option(
            "--smtp", help="Test the mail server of [notify.smtp] instead of the targets."
        ),
    ] = False,
) -> None:
    """Validate the config, open the database and check that every target can be listed.

    With --smtp: connect to the mail server, do TLS and the login, and quit (nothing is sent).

    Example: monitor check --smtp
    """
    obj = app_of(ctx)
    settings = obj.settings
    if smtp:
        _check_smtp(obj, fmt)
        return
    obj.store()
    rows = []
    for target in settings.targets:
        try:
            detail = asyncio.run(make_source(target).probe())
            status = "ok"
        except MonitorError as exc:
            detail, status = exc.message, "failed"
        rows.append(
            {"target": target.name, "kind": target.kind, "status": status, "detail": detail}
        )
    columns = [
        Column("target", "target"),
        Column("kind", "kind"),
        Column("status", "status"),
        Column("detail", "detail", "name"),
    ]
    emit(rows, columns, fmt, zone=settings.zone, title=f"config {obj.config_path}: ok")
    if any(r["status"] != "ok" for r in rows):
        raise typer.Exit(1)


def _check_smtp(obj: App, fmt: Format) -> None:
    from monitor.notify import check_smtp

    try:
        detail, status = check_smtp(obj.settings), "ok"
    except MonitorError as exc:
        detail, status = exc.message, "failed"
    row = {"check": "smtp", "status": status, "detail": detail}
    columns = [
        Column("check", "check"),
        Column("status", "status"),
        Column("detail", "detail", "name"),
    ]
    emit([row], columns, fmt, zone=obj.zone, title=f"config {obj.config_path}: ok")
    if status != "ok":
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database schema up to date (SQLite does this by itself on start).

    Example: monitor db upgrade
    """
    obj = app_of(ctx)
    store = obj.store(upgrade=True)
    upgrade_schema(store)
    typer.echo(f"database schema is current ({store.dialect})")
