"""``demo``: the product on a folder that keeps receiving files (see :mod:`monitor.demo`)."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.base import app, err
from monitor.errors import UsageError

if TYPE_CHECKING:
    from monitor.demo import DemoDrop

DEFAULT_PORT = 8080


@app.command()
def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Workspace folder (kept); default: a temporary one."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help=f"Port of the web UI (default {DEFAULT_PORT}, or a free one)."),
    ] = None,
    every: Annotated[
        float, typer.Option(help="Seconds between deliveries, and between polls.", min=0.2)
    ] = 5.0,
    keep: Annotated[bool, typer.Option(help="Keep the temporary workspace at the end.")] = False,
) -> None:
    """Watch a demo drop folder that receives a batch every few seconds, with the web UI.

    Makes a workspace with a local folder, its config and its database; a new run of files
    lands in the folder every --every seconds (sometimes an earlier file changes or goes); the
    daemon polls it and serves the web UI on 127.0.0.1. Open the URL it prints, log in as one
    of its two reviewers (it prints their passwords), watch batches arrive and review them; log
    in as the other to see who reviewed what and why. Ctrl-C stops it. Ignores --config.

    Example: monitor demo --every 3
    """
    from monitor.config import load_settings
    from monitor.daemon import run_daemon
    from monitor.demo import DemoDrop, demo_config, demo_passwords

    workspace = directory or Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    try:
        workspace.mkdir(mode=0o700, parents=True, exist_ok=True)  # its owner's only
    except OSError as exc:
        raise UsageError(f"--dir: cannot create {workspace}: {exc}") from exc
    port = _port(port)
    config = workspace / "monitor.toml"
    passwords = demo_passwords()
    text = demo_config(workspace, port=port, every=every, settle=every * 3, passwords=passwords)
    config.touch(mode=0o600)
    config.chmod(0o600)  # password hashes: its owner's only, before they are written
    config.write_text(text, encoding="utf-8")
    drop = DemoDrop(workspace / "drop", date.today())
    stop = threading.Event()
    deliveries = threading.Thread(
        target=_deliver, args=(drop, every, stop), name="demo-drop", daemon=True
    )
    err.print(f"demo workspace: {workspace}", highlight=False)
    err.print(f"open http://127.0.0.1:{port}/  (Ctrl-C stops)", highlight=False)
    for name, password in passwords.items():
        err.print(f"  log in as {name}, password {password}", highlight=False)
    deliveries.start()
    try:
        code = run_daemon(config, load_settings(config), log_format=None, log_level=None, web=True)
    finally:
        stop.set()
        deliveries.join()
        if directory is None and not keep:
            shutil.rmtree(workspace, ignore_errors=True)
        else:
            err.print(f"workspace kept: {workspace}", highlight=False)
    if code:
        raise typer.Exit(code)


def _deliver(drop: DemoDrop, every: float, stop: threading.Event) -> None:
    """A run now (the daemon's first poll takes it as the baseline), then one per interval."""
    while True:
        err.print(f"demo drop: {drop.step()}", highlight=False)
        if stop.wait(every):
            return


def _port(wanted: int | None) -> int:
    """``wanted``, or the default port when it is free, or any free port."""
    if wanted is not None:
        return wanted
    for candidate in (DEFAULT_PORT, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise UsageError("no free port on 127.0.0.1; give --port")  # pragma: no cover
