"""The read model of the web UI and the JSON API: pure functions over the store.

Each module serves one page and returns frozen pydantic models (their field descriptions make
the API's OpenAPI schema). Every function takes an open ``Connection`` (``Store.read()``, or
``Store.write()`` for the review actions in :mod:`~monitor.views.batches`), the settings where
targets' configs matter, and the ``zone`` that days and times are shown in.

- :mod:`~monitor.views.dashboard`  targets with health, last poll, batches to review, arrivals
- :mod:`~monitor.views.targets`    a target's changes per day and its snapshots
- :mod:`~monitor.views.days`       the day diff of a target, filtered, as lists and a folder tree
- :mod:`~monitor.views.batches`    batches, one batch with its files and review trail, the review
  queue, and the review actions (one batch, several at once, a note)
- :mod:`~monitor.views.files`      the history of one path
- :mod:`~monitor.views.search`     every path ever seen, by substring
- :mod:`~monitor.views.feed`       the newest batches (Atom), CSV and JSON export rows
- :mod:`~monitor.views.daily`      changes per day, counted as ``monitor diff --day`` counts them

Paths are decoded as the CLI shows them (an undecodable byte is the lone surrogate
``\\udcXX``); nothing is escaped for HTML. pydantic cannot write such a name as JSON:
:func:`json_text` writes a view as the CLI writes JSON.
"""

from monitor.views._common import ArchivedBody, Entry, Page, View, json_text

__all__ = ["ArchivedBody", "Entry", "Page", "View", "json_text"]
