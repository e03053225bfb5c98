"""The crawler's tests run against a fault-injecting autoindex server of a small tree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.crawl.helpers import TREE
from tests.servers import AutoindexServer


@pytest.fixture
def server() -> Iterator[AutoindexServer]:
    with AutoindexServer(TREE) as running:
        yield running
