"""Config reload: watch the config file, debounce, and say what a new config changes.

:class:`ConfigWatcher` watches the folder that holds the config file (editors replace a file
by writing another and renaming it over, which a watch on the file itself would lose) and
reports events about that one file. :class:`Debouncer` turns a burst of events (and SIGHUPs)
into one reload. :func:`plan_reload` compares two configs: targets added, removed, with a new
schedule, or otherwise changed, and which ``[daemon]`` / ``[notify]`` keys changed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from monitor.config import Settings, TargetConfig

#: Events closer together than this make one reload.
DEBOUNCE_S = 0.3


class _Handler(FileSystemEventHandler):
    def __init__(self, path: str, notify: Callable[[], None]) -> None:
        self.path = path
        self.notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in {"opened", "closed_no_write"}:
            return
        paths = {event.src_path, getattr(event, "dest_path", "")}
        if any(os.fsdecode(p) == self.path for p in paths if p):
            self.notify()


class ConfigWatcher:
    """Calls ``notify`` (from watchdog's thread) when the config file may have changed."""

    def __init__(self, path: Path, notify: Callable[[], None]) -> None:
        self.path = path.absolute()
        self.observer = Observer()
        self.observer.daemon = True
        handler = _Handler(str(self.path), notify)
        self.observer.schedule(handler, str(self.path.parent), recursive=False)

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)


class Debouncer:
    """Runs ``action`` once, ``delay`` seconds after the last of a burst of triggers."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, action: Callable[[], None], delay: float
    ) -> None:
        self.loop = loop
        self.action = action
        self.delay = delay
        self._pending: asyncio.TimerHandle | None = None

    def trigger(self) -> None:
        """Call from the loop's thread."""
        if self._pending is not None:
            self._pending.cancel()
        self._pending = self.loop.call_later(self.delay, self._fire)

    def trigger_threadsafe(self) -> None:
        """Call from any thread."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.trigger)

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _fire(self) -> None:
        self._pending = None
        self.action()


@dataclass
class ReloadPlan:
    """What a new config changes, by name."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: Targets whose schedule changed (every, cron, jitter; or the time zone of a cron line).
    rescheduled: list[str] = field(default_factory=list)
    #: Targets with other changes (they take effect at their next poll).
    updated: list[str] = field(default_factory=list)
    daemon: list[str] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)
    #: Other tables that changed (``archive``, ``web``, ``reviewer``): read where they are used.
    sections: list[str] = field(default_factory=list)
    database: bool = False
    timezone: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.rescheduled
            or self.updated
            or self.daemon
            or self.notify
            or self.sections
            or self.database
            or self.timezone
        )


def active_targets(settings: Settings) -> dict[str, TargetConfig]:
    """The targets the daemon polls: the enabled ones, by name."""
    return {t.name: t for t in settings.targets if t.enabled}


def _schedule(target: TargetConfig, timezone: str) -> tuple[object, ...]:
    return (target.every, target.cron, target.jitter, timezone if target.cron else None)


def plan_reload(old: Settings, new: Settings) -> ReloadPlan:
    """Compare the running config with a new one (a disabled target counts as removed)."""
    before, after = active_targets(old), active_targets(new)
    plan = ReloadPlan(
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        database=old.database_url != new.database_url,
        timezone=old.timezone != new.timezone,
    )
    for name in sorted(before.keys() & after.keys()):
        was, now = before[name], after[name]
        if _schedule(was, old.timezone) != _schedule(now, new.timezone):
            plan.rescheduled.append(name)
        elif was != now:
            plan.updated.append(name)
    plan.daemon = _changed_keys(old.daemon, new.daemon)
    plan.notify = _changed_keys(old.notify, new.notify)
    plan.sections = [k for k in _SECTIONS if getattr(old, k) != getattr(new, k)]
    return plan


#: Settings compared as a whole by :func:`plan_reload` (``defaults`` shows in the targets).
_SECTIONS = ("reviewer", "archive", "web")


def _changed_keys(old: object, new: object) -> list[str]:
    fields = type(old).model_fields  # type: ignore[attr-defined]
    return [k for k in fields if getattr(old, k) != getattr(new, k)]
