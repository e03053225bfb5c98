"""config.example.toml documents every setting and is itself a valid config, so docs can't drift."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.config import Defaults, LocalTarget, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
# The example reads these with ${VAR:-default} or in commented-out lines.
ENVIRON = {"MONITOR_DB_PASSWORD": "pw"}
# A `key = value` line, possibly commented out, and not a comment that merely mentions `key`.
SETTING_LINE = re.compile(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", re.MULTILINE)


def documented_keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def key_is_documented(text: str, key: str) -> bool:
    return re.search(rf"^(#\s*)?{re.escape(key)}\s*=", text, re.MULTILINE) is not None


MODEL_KEYS = [
    (model.__name__, key)
    for model in (Settings, Defaults, LocalTarget)
    for key in documented_keys(model)
]


def test_the_models_are_walked() -> None:
    # Guards the walk itself: aliases are used (`target`, not `targets`) and every model counts.
    assert ("Settings", "target") in MODEL_KEYS
    assert ("Settings", "targets") not in MODEL_KEYS
    assert {m for m, _ in MODEL_KEYS} == {"Settings", "Defaults", "LocalTarget"}
    assert ("LocalTarget", "every") in MODEL_KEYS  # inherited fields are included


def test_key_matcher() -> None:
    text = "every = 1\n# database = 'x'\n# mentions include here\nsettle_x = 2\n"
    assert key_is_documented(text, "every")
    assert key_is_documented(text, "database")
    assert not key_is_documented(text, "include")
    assert not key_is_documented(text, "settle")


@pytest.mark.parametrize(("model", "key"), MODEL_KEYS)
def test_every_key_appears_in_the_example(model: str, key: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    if key == "target":
        assert re.search(r"^\[\[target\]\]$", text, re.MULTILINE), "no [[target]] table"
    elif key == "defaults":
        assert re.search(r"^\[defaults\]$", text, re.MULTILINE), "no [defaults] table"
    else:
        assert key_is_documented(text, key), f"{model}.{key} is not in {EXAMPLE.name}"


def test_every_defaults_key_is_set_in_the_defaults_table() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    table = text.split("[defaults]\n", 1)[1].split("[[target]]", 1)[0]
    assert [m.group(1) for m in SETTING_LINE.finditer(table)] == documented_keys(Defaults)


def test_every_documented_setting_is_a_real_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    known = {key for _, key in MODEL_KEYS}
    assert {m.group(1) for m in SETTING_LINE.finditer(text)} - known == set()


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


def commented_settings() -> list[str]:
    text = EXAMPLE.read_text(encoding="utf-8")
    return re.findall(r"^# ?[a-z_]+ = .*$", text, re.MULTILINE)


def test_there_are_commented_examples() -> None:
    assert any(line.startswith("# database = ") for line in commented_settings())


@pytest.mark.parametrize("line", commented_settings())
def test_each_commented_example_is_valid_when_uncommented(tmp_path: Path, line: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = text.replace(line, line.removeprefix("#").lstrip(), 1)
    path = tmp_path / EXAMPLE.name
    path.write_text(uncommented, encoding="utf-8")
    settings = load_settings(path, environ=ENVIRON)
    key, value = (part.strip() for part in line.removeprefix("#").split("=", 1))
    if key == "database":
        assert settings.database_url == value.strip('"').replace("${MONITOR_DB_PASSWORD}", "pw")
    else:
        assert getattr(settings.target("drop"), key) != getattr(settings.defaults, key)


README = EXAMPLE.parent / "README.md"


@pytest.mark.parametrize(("model", "key"), MODEL_KEYS)
def test_every_key_is_in_the_readme_reference(model: str, key: str) -> None:
    text = README.read_text(encoding="utf-8")
    assert f"| `{key}` |" in text, f"{model}.{key} is missing from the README's table"
