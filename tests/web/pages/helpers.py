"""What the page tests share: a world with a [web] table, and a logged-in client of its app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import select
from typer.testing import CliRunner

from monitor.config import Settings, load_settings
from monitor.store import open_store
from monitor.store.queries import review_event_t
from monitor.web.passwords import hash_token
from tests.conftest import Cli, write_config
from tests.helpers import Clock
from tests.views.conftest import World
from tests.web.conftest import HTML, TOKEN, LiveApp, csrf_of


def pages_world(
    tmp_path: Path,
    db_url: str,
    drop: Path,
    clock: Clock,
    password_hash: str,
    *,
    target_extra: str = "",
    extra: str = "",
) -> World:
    """The view tests' world with a [web] table: users "ana" and "ben" (``password_hash``),
    the API token "reader", and one local target "drop" (``target_extra``: more of its keys)."""
    users = "".join(
        f'[[web.users]]\nname = "{name}"\npassword_hash = "{password_hash}"\n'
        for name in ("ana", "ben")
    )
    web = (
        f'[web]\nport = 0\nsecret_key = "{"k" * 40}"\n{users}'
        f'[[web.api_tokens]]\nname = "reader"\ntoken_hash = "{hash_token(TOKEN)}"\n'
    )
    config = write_config(
        tmp_path / "monitor.toml",
        db_url,
        f'[[target]]\nname = "drop"\nkind = "local"\npath = "{drop}"\n'
        f'settle = "1h"\nsuspect_min_removed = 2\n{target_extra}',
        extra=extra + "\n" + web,
    )
    return World(
        open_store(db_url, upgrade=True),
        load_settings(config),
        Cli(config, CliRunner(env={"COLUMNS": "200"})),
        clock,
        drop,
    )


@dataclass
class PagesSite:
    """A world served by a live app, and a client logged in as "ana"."""

    world: World
    live: LiveApp
    client: httpx.Client

    @property
    def settings(self) -> Settings:
        return self.world.settings

    def page(self, url: str, status: int = 200) -> LexborHTMLParser:
        response = self.client.get(url, headers=HTML)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("text/html")
        return LexborHTMLParser(response.text)

    def csrf(self, url: str = "/batches") -> str:
        return csrf_of(self.client.get(url, headers=HTML))

    def events(self) -> list[tuple[int, str, str, str, str | None]]:
        with self.world.store.read() as conn:
            rows = conn.execute(select(review_event_t).order_by(review_event_t.c.id))
            return [(r.batch_id, r.actor, r.from_status, r.to_status, r.note) for r in rows]
