"""What every command shares: the Typer app, error translation, the App object, common options.

This module imports no command module; the command modules import it and register on ``app``.
"""

from __future__ import annotations

import gc
import getpass
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy import Connection
from typer.core import TyperGroup

from monitor import __version__
from monitor.config import DEFAULT_CONFIG_NAME, Settings, load_settings
from monitor.errors import ConfigError, MonitorError, UsageError
from monitor.output import Format
from monitor.poll import utc_now
from monitor.store import Store, open_store
from monitor.store import queries as q

err = Console(stderr=True, soft_wrap=True)


class MonitorGroup(TyperGroup):
    """Turns the project's errors into a message and an exit code, for every command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, UsageError) as exc:
            label = "config error: " if isinstance(exc, ConfigError) else "error: "
            err.print(Text.assemble((label, "bold red"), str(exc)), highlight=False)
            raise typer.Exit(2) from exc
        except MonitorError as exc:
            err.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=MonitorGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Watch file servers and learn what arrived, changed and vanished.",
)


@dataclass
class App:
    """What every command needs, opened on first use."""

    config_path: Path
    _settings: Settings | None = None
    _store: Store | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    def store(self, *, upgrade: bool | None = None) -> Store:
        if self._store is None:
            self._store = open_store(self.settings.database_url, upgrade=upgrade)
            configured = [(t.name, t.kind) for t in self.settings.targets]
            with self._store.read() as conn:
                known = set(q.target_names(conn).values())
            if any(name not in known for name, _ in configured):
                with self._store.write() as conn:
                    q.register_targets(conn, configured, utc_now())
        return self._store

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.store().read() as conn:
            yield conn

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.zone

    def reviewer(self, given: str | None) -> str:
        return given or self.settings.reviewer or getpass.getuser()


def app_of(ctx: typer.Context) -> App:
    """The App that ``main_options`` put on the context."""
    obj = ctx.find_object(App)
    assert obj is not None
    return obj


FormatOpt = Annotated[
    Format, typer.Option("--format", "-f", help="table for people, json or csv for scripts.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"filedrop-monitor {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option("--config", "-c", envvar="MONITOR_CONFIG", help="The config file."),
    ] = Path(DEFAULT_CONFIG_NAME),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Watch file servers and learn what arrived, changed and vanished.

    Example: monitor --config monitor.toml poll
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = App(config)


def main() -> None:
    # A poll makes an object per file and keeps most of them to its end. With the default
    # thresholds the collector walks that growing heap again and again (0.4-0.6 s of a
    # 100,000-file poll); what the imports made is frozen out of its reach, and it runs less
    # often (0.1-0.25 s). Cycles are still collected, in the daemon as in a one-shot command.
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    app(prog_name="monitor")
