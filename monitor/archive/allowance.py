"""The bytes an archive run may still download for files whose listing gave no size.

A listing without sizes (Python's ``http.server``, Apache without ``IndexOptions``) gives the
plan nothing to count against ``max_bytes_per_poll`` and ``quota``, so those files are counted
as they come: a worker reserves what a file may take before it fetches it
(``max_file_size``, or all that is left when less is left and nothing else is in flight), the
download is cut at its reservation, and what it really took is counted when it ends.

A file cut at a reservation smaller than ``max_file_size`` does not fit: it is not recorded
(it waits for the next run, as a listed file that does not fit does), and no other file
without a size starts in this run. The first file of a run goes whatever
``max_bytes_per_poll`` says (as in :func:`~monitor.archive.archiver.plan`), never past
``quota``.
"""

from __future__ import annotations

import asyncio


class Allowance:
    """What files without a size may still take in one run (see the module docstring).

    ``budget``: bytes left of ``max_bytes_per_poll`` once the listed files are planned;
    ``room``: bytes left of ``quota`` (None: no quota); ``first``: the run's first file is
    one without a size (it is not held to ``budget``).
    """

    def __init__(self, budget: int, room: int | None, *, first: bool = False) -> None:
        self.budget = budget
        self.room = room
        self.first = first
        self.spent = self.reserved = 0
        #: Why files wait (a file did not fit, or nothing is left), else None.
        self.note: str | None = None
        #: The limit that cut the last reservation short of its cap.
        self._short = ""
        self._changed = asyncio.Condition()

    def _left(self) -> tuple[int, str]:
        """Bytes left, and the limit that leaves the fewest."""
        used = self.spent + self.reserved
        budget = None if self.first else self.budget - used
        quota = None if self.room is None else self.room - used
        if quota is not None and (budget is None or quota <= budget):
            return quota, "quota reached"
        if budget is None:
            return 2**63, ""
        return budget, "max_bytes_per_poll reached"

    async def reserve(self, cap: int) -> int | None:
        """Reserve up to ``cap`` bytes for one file (waiting while others hold what is left);
        None: nothing is left, the file and the rest wait."""
        async with self._changed:
            while self.note is None:
                left, why = self._left()
                if left >= cap or (left > 0 and self.reserved == 0):
                    self.first = False
                    share = min(cap, left)
                    if share < cap:
                        self._short = why
                    self.reserved += share
                    return share
                if self.reserved == 0:
                    self.note = why
                    break
                await self._changed.wait()
            return None

    async def settle(self, reserved: int, took: int, *, fitted: bool) -> None:
        """Give back a reservation; ``took``: the bytes kept. ``fitted`` False: the file was cut
        at its reservation, so nothing more starts."""
        async with self._changed:
            self.reserved -= reserved
            self.spent += took
            if not fitted and self.note is None:
                self.note = self._short
            self._changed.notify_all()
