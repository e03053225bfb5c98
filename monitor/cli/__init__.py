"""The ``monitor`` command: thin commands over the engine.

Exit codes: 0 ok, 1 the work failed (a target unreachable, a check failed, the database
refused), 2 bad usage or bad config. Library errors become messages here and nowhere else.

``base`` holds the app, the error translation and what commands share; each of ``setup``,
``polling``, ``reading`` and ``review`` registers its commands on the app when imported.
"""

# The import order is the order ``monitor --help`` lists the commands in.
# isort: off
from monitor.cli import setup, polling, daemon, web, reading, review  # noqa: F401
from monitor.cli import evidence, archive, notify, demo  # noqa: F401
from monitor.cli.base import app, main

# isort: on

__all__ = ["app", "main"]
