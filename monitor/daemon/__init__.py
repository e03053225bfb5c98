"""``monitor run``: the daemon that polls every target on its schedule and sends alerts.

Modules, one job each: :mod:`~monitor.daemon.scheduler` (triggers, backoff, the
AsyncIOScheduler), :mod:`~monitor.daemon.polls` (one poll under its guards, its log line),
:mod:`~monitor.daemon.sending` (outbox deliveries, the daily digest),
:mod:`~monitor.daemon.tasks` (work in flight, the cap on polls at once),
:mod:`~monitor.daemon.reload` (watching the config file, what a new config changes),
:mod:`~monitor.daemon.lock` (one daemon per database), :mod:`~monitor.daemon.logs` (text or
JSON lines, secrets masked), :mod:`~monitor.daemon.runner` (start, signals, reload, stop).
"""

from monitor.daemon.runner import Daemon, run_daemon

__all__ = ["Daemon", "run_daemon"]
