"""config.example.toml documents every setting and is itself a valid config, so docs can't drift.

Every model of the config tree (:class:`Settings` and the models reachable through its fields:
``[defaults]``, each target kind, each ``auth`` kind) is walked. The example is read as tables:
the top level, ``[defaults]``, and one per ``[[target]]``, commented out (``# [[target]]``) or
not; a table's model is the field its header names, chosen by ``kind``. A nested model with no
table of its own (``auth``) is documented by inline tables (``auth = { kind = ... }``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from monitor.config import (
    TARGET_MODELS,
    ArchiveRules,
    ArchiveStore,
    BasicAuth,
    BearerAuth,
    Daemon,
    Defaults,
    DigestAuth,
    HttpTarget,
    LocalTarget,
    Notify,
    Settings,
    Smtp,
    Web,
    load_settings,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
README = EXAMPLE.parent / "README.md"
# The example reads these with ${VAR:-default} or in commented-out lines.
ENVIRON = {
    "MONITOR_DB_PASSWORD": "pw",
    "VENDOR_PASSWORD": "pw",
    "VENDOR_TOKEN": "tk",
    "SMTP_PASSWORD": "pw",
    "S3_SECRET": "pw",
    "MONITOR_WEB_SECRET": "a-session-key-of-at-least-32-characters",
}
# A table header, possibly commented out: `[defaults]`, `# [[target]]`.
HEADER = re.compile(r"^(#\s*)?\[\[?([A-Za-z_][A-Za-z0-9_.]*)\]\]?\s*$")
# A `key = value` line, possibly commented out, and not a comment that merely mentions `key`.
SETTING = re.compile(r"^(#\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


# --- the config models -------------------------------------------------------------------------


def documented_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: ``list[A | Annotated[B, ...]] | None`` → [A, B]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in models_in(arg)]


@dataclass(frozen=True)
class Spot:
    """Where a model sits in the tree: the model and the key of its parent that holds it."""

    model: type[BaseModel]
    parent: type[BaseModel] | None = None
    key: str = ""


def model_tree(spot: Spot) -> Iterator[Spot]:
    yield spot
    for name, info in spot.model.model_fields.items():
        for model in models_in(info.annotation):
            yield from model_tree(Spot(model, spot.model, info.alias or name))


TREE = {spot.model: spot for spot in model_tree(Spot(Settings))}
MODEL_KEYS = [(model.__name__, key) for model in TREE for key in documented_keys(model)]


def kind_of(model: type[BaseModel]) -> str | None:
    """The value of a model's ``kind`` (``"http"``, ``"basic"``), if it has one."""
    info = model.model_fields.get("kind")
    return str(get_args(info.annotation)[0]) if info is not None else None


def pick(spot_key: str, parent: type[BaseModel], value: dict[str, Any]) -> type[BaseModel]:
    """The model of ``parent``'s key that a table or inline table is, chosen by its ``kind``."""
    fields = parent.model_fields.items()
    info = next((i for n, i in fields if (i.alias or n) == spot_key), None)
    assert info is not None, f"{parent.__name__} has no key {spot_key!r}"
    models = models_in(info.annotation)
    if len(models) == 1:
        return models[0]
    chosen = [m for m in models if kind_of(m) == value.get("kind")]
    assert chosen, f"{spot_key} = {value}: no model of that kind"
    return chosen[0]


# --- the example, read as tables ---------------------------------------------------------------


@dataclass
class Setting:
    line: int  # index in the example's lines
    key: str
    value: Any
    commented: bool


@dataclass
class Table:
    name: str  # "" for the top level
    line: int | None  # the header's index
    commented: bool
    settings: list[Setting] = field(default_factory=list)
    above: Table | None = None  # the table a dotted one is in: [target.archive] -> [[target]]

    @property
    def parent(self) -> str | None:
        return self.name.rpartition(".")[0] or None

    def value(self) -> dict[str, Any]:
        return {s.key: s.value for s in self.settings}

    def model(self) -> type[BaseModel]:
        """The model of the table: ``[notify.smtp]`` is the ``smtp`` key of ``[notify]``'s."""
        if self.above is not None:
            return pick(self.name.rpartition(".")[2], self.above.model(), self.value())
        return pick(self.name, Settings, self.value()) if self.name else Settings

    def owner(self, settings: Settings) -> Any:
        """The loaded model this table became."""
        if self.name == "target":
            return settings.target(self.value()["name"])
        if self.above is not None:
            return getattr(self.above.owner(settings), self.name.rpartition(".")[2])
        return getattr(settings, self.name) if self.name else settings


def read_tables(text: str) -> list[Table]:
    tables = [Table("", None, commented=False)]
    for index, line in enumerate(text.splitlines()):
        if header := HEADER.match(line):
            name = header.group(2)
            prefix = name.rpartition(".")[0]
            above = next((t for t in reversed(tables) if prefix and t.name == prefix), None)
            assert above is not None or not prefix, f"[{name}] is not inside a [{prefix}]"
            tables.append(Table(name, index, commented=bool(header.group(1)), above=above))
        elif setting := SETTING.match(line):
            key, commented = setting.group(2), bool(setting.group(1))
            value = tomllib.loads(f"{key} = {setting.group(3)}")[key]
            tables[-1].settings.append(Setting(index, key, value, commented))
    return tables


TABLES = read_tables(EXAMPLE.read_text(encoding="utf-8"))


def examples(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Every table or inline table of the example that is a ``model``."""
    spot = TREE[model]
    if spot.parent is None:  # the top level; a table's name documents the key that holds it
        return [TABLES[0].value(), {t.name.split(".")[0]: None for t in TABLES[1:]}]
    if spot.parent is Settings:  # with the keys of its sub-tables: [notify.smtp] is notify.smtp
        return [
            {**t.value(), **{c.name.split(".")[-1]: None for c in TABLES if c.parent == t.name}}
            for t in TABLES
            if t.model() is model
        ]
    inline = [
        value
        for table in TABLES
        for s in table.settings
        if s.key == spot.key and table.model() is spot.parent
        for value in (s.value if isinstance(s.value, list) else [s.value])
        if isinstance(value, dict) and pick(spot.key, spot.parent, value) is model
    ]
    return inline + [t.value() for t in TABLES if "." in t.name and t.model() is model]


def test_the_models_are_walked() -> None:
    # Guards the walk itself: aliases are used (`target`, not `targets`) and every model counts.
    assert ("Settings", "target") in MODEL_KEYS
    assert ("Settings", "targets") not in MODEL_KEYS
    assert {m for m, _ in MODEL_KEYS} == {
        "Settings",
        "Defaults",
        *(m.__name__ for m in TARGET_MODELS.values()),
        "BasicAuth",
        "DigestAuth",
        "Daemon",
        "Notify",
        "Smtp",
        "WatchRule",
        "ArchiveRules",
        "ArchiveStore",
        "BearerAuth",
        "Web",
        "WebUser",
        "ApiToken",
    }
    assert ("LocalTarget", "every") in MODEL_KEYS  # inherited fields are included
    assert ("BearerAuth", "token") in MODEL_KEYS
    assert TREE[DigestAuth] == Spot(DigestAuth, HttpTarget, "auth")


def test_the_example_is_read_as_tables() -> None:
    text = 'a = 1\n# b = "x"\n# mentions c here\n[t]\nkind = "k"\n# [[u]]\n# d = { e = 2 }\n'
    tables = [
        (t.name, t.commented, [(s.key, s.value, s.commented) for s in t.settings])
        for t in read_tables(text)
    ]
    assert tables == [
        ("", False, [("a", 1, False), ("b", "x", True)]),
        ("t", False, [("kind", "k", False)]),
        ("u", True, [("d", {"e": 2}, True)]),
    ]
    assert [(t.name, t.model(), t.commented) for t in TABLES[1:]] == [
        ("defaults", Defaults, False),
        ("daemon", Daemon, False),
        ("notify", Notify, False),
        ("notify.smtp", Smtp, True),
        ("archive", ArchiveStore, False),
        ("web", Web, True),
        ("target", LocalTarget, False),
        ("target.archive", ArchiveRules, False),
        ("target", HttpTarget, True),
    ]
    assert [e["kind"] for e in examples(BasicAuth) + examples(BearerAuth)] == ["basic", "bearer"]


# --- every key is in the example, and nothing else ---------------------------------------------


@pytest.mark.parametrize(("model", "key"), MODEL_KEYS)
def test_every_key_appears_in_the_example(model: str, key: str) -> None:
    """In a table (or inline table) of its model, or of the model it inherits the key from."""
    owner = next(m for m in TREE if m.__name__ == model)
    homes = [m for m in owner.__mro__ if m in TREE and key in documented_keys(m)]
    found = [e for home in homes for e in examples(home) if key in e]
    assert found, f"{model}.{key} is not in {EXAMPLE.name}"


def test_every_model_has_an_example() -> None:
    assert [m.__name__ for m in TREE if not examples(m)] == []


def test_every_documented_setting_is_a_real_key() -> None:
    for model in TREE:
        for example in examples(model):
            assert set(example) - set(documented_keys(model)) == set(), model.__name__


def test_every_defaults_key_is_set_in_the_defaults_table() -> None:
    (table,) = (t for t in TABLES if t.name == "defaults")
    assert [s.key for s in table.settings] == documented_keys(Defaults)
    # Only a key without a default value (unset means off) may be shown commented out.
    unset = {k for k, info in Defaults.model_fields.items() if info.get_default() is None}
    assert not any(s.commented for s in table.settings if s.key not in unset)


# --- the example loads, and so does each commented line ----------------------------------------


def test_example_loads() -> None:
    settings = load_settings(EXAMPLE, environ=ENVIRON)
    folder = EXAMPLE.parent
    assert settings.data_dir == folder / "monitor-data"
    assert settings.database is None
    assert settings.database_url == f"sqlite:///{folder}/monitor-data/monitor.db"
    assert settings.timezone == "Europe/Paris"
    assert settings.reviewer == "analyst"
    assert [t.name for t in settings.targets] == ["drop"]
    drop = settings.target("drop")
    assert (drop.kind, drop.path) == ("local", folder / "drop")
    assert drop.every == timedelta(minutes=30)
    assert drop.exclude == settings.defaults.exclude == ["*.tmp", "*.part"]


def test_example_reviewer_comes_from_the_environment() -> None:
    assert load_settings(EXAMPLE, environ={"USER": "ana"}).reviewer == "ana"


COMMENTED = [(t, s) for t in TABLES for s in t.settings if s.commented]


def test_there_are_commented_examples() -> None:
    assert ("", "database") in {(t.name, s.key) for t, s in COMMENTED}
    assert {t.model() for t, _ in COMMENTED} >= {Settings, LocalTarget, HttpTarget}


def uncommented(table: Table, setting: Setting) -> str:
    """The example with one setting uncommented; and its table, header and required keys,
    when the table is commented out."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    chosen = {setting.line}
    if table.commented and table.line is not None:
        required = {k for k, info in table.model().model_fields.items() if info.is_required()}
        chosen |= {table.line, *(s.line for s in table.settings if s.key in required)}
    for index in chosen:
        lines[index] = lines[index].removeprefix("#").lstrip()
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("table", "setting"), COMMENTED, ids=[f"{s.line + 1}-{s.key}" for _, s in COMMENTED]
)
def test_each_commented_example_is_valid_when_uncommented(
    tmp_path: Path, table: Table, setting: Setting
) -> None:
    """It loads, reaches its table, and overrides [defaults], restates the model's default,
    or, where the model has none (or an empty one), gives an example."""
    path = tmp_path / EXAMPLE.name
    path.write_text(uncommented(table, setting), encoding="utf-8")
    settings = load_settings(path, environ=ENVIRON)
    owner = table.owner(settings)
    fields = type(owner).model_fields
    key = next(name for name, info in fields.items() if (info.alias or name) == setting.key)
    value = getattr(owner, key)
    info = type(owner).model_fields[key]
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    assert key in owner.model_fields_set, "the line did not reach its table"
    if table.name == "target" and key in Defaults.model_fields:
        assert value != getattr(settings.defaults, key), "an override that overrides nothing"
    elif default in (None, {}, []):
        assert info.is_required() or value != default, "an example that shows nothing"
    else:
        assert value == default, "a line that claims a default the model does not have"
    if key == "database":
        assert settings.database_url == setting.value.replace("${MONITOR_DB_PASSWORD}", "pw")


# --- the README's table ------------------------------------------------------------------------


def readme_row(key: str) -> str | None:
    text = README.read_text(encoding="utf-8")
    return next((line for line in text.splitlines() if line.startswith(f"| `{key}` |")), None)


@pytest.mark.parametrize(("model", "key"), MODEL_KEYS)
def test_every_key_is_in_the_readme_reference(model: str, key: str) -> None:
    """A table's key has a row; an inline table's key and kind are in the row of its key."""
    spot = next(s for m, s in TREE.items() if m.__name__ == model)
    if spot.parent is None or spot.parent is Settings:
        assert readme_row(key), f"{model}.{key} is missing from the README's table"
        return
    row = readme_row(spot.key)
    assert row, f"{spot.parent.__name__}.{spot.key} is missing from the README's table"
    assert re.search(rf"\b{re.escape(key)}\b", row), f"{model}.{key} is not in its row"
    kind = kind_of(spot.model)
    assert kind is None or f'"{kind}"' in row, f"{model}'s kind is not in the row of {spot.key}"
