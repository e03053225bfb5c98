"""The configuration: a TOML file validated into one pydantic model tree.

Every error names the file, the key path and what was expected. Strings may hold ``${VAR}`` or
``${VAR:-default}``, replaced from the environment before validation (``$${`` is a literal
``${``); this is the only place that reads the environment. Durations are written ``"30m"``,
``"2h"``, ``"1h30m"`` or as seconds; sizes as ``"200MB"``, ``"1.5GiB"`` or as bytes. The
``[defaults]`` table is merged into each ``[[target]]`` that does not set the key itself.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError

DEFAULT_CONFIG_NAME = "monitor.toml"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_PREFIX = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
_SECRET_KEY = re.compile(r"pass|secret|token|key|auth", re.IGNORECASE)


def parse_duration(value: object) -> timedelta:
    """``"30m"``, ``"2h"``, ``"1h30m"``, ``"1.5d"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration like '30m' or '2h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
            raise ValueError(f"expected a duration like '30m' or '2h', got {value!r}")
        seconds = sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in parts)
    else:
        raise ValueError("expected a duration like '30m' or '2h'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


def parse_size(value: object) -> int:
    """``"200MB"`` (10**6), ``"1.5GiB"`` (2**30), ``"512K"`` or a number of bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size like '200MB' or '1GiB'")
    if isinstance(value, int):
        number, unit = float(value), ""
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        number, unit = float(match.group(1)), (match.group(2) or "").lower()
    else:
        raise ValueError(f"expected a size like '200MB' or '1GiB', got {value!r}")
    prefix = unit.rstrip("b").rstrip("i")
    base = 1024 if "i" in unit else 1000
    if unit and unit not in {"b"} and prefix == "":
        raise ValueError(f"expected a size like '200MB' or '1GiB', got {value!r}")
    if number < 0:
        raise ValueError("a size cannot be negative")
    return int(number * base ** _SIZE_PREFIX[prefix])


def _check_zone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a time zone name such as 'Europe/Paris' or 'UTC'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use a name such as 'Europe/Paris'") from exc
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda d: f"{int(d.total_seconds())}s", return_type=str),
]
Size = Annotated[int, BeforeValidator(parse_size)]
TimeZoneName = Annotated[str, BeforeValidator(_check_zone)]
TargetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Strict):
    """Settings every target has; ``[defaults]`` sets them for all targets at once."""

    enabled: bool = True
    every: Duration = timedelta(minutes=30)
    settle: Duration = timedelta(hours=1)
    batch_depth: int = Field(default=1, ge=0, le=32)
    max_removed_ratio: float = Field(default=0.5, gt=0, le=1)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    max_entries: int = Field(default=1_000_000, ge=1)


class LocalTarget(Defaults):
    """A folder on this machine (or a mounted share)."""

    name: TargetName
    kind: Literal["local"]
    path: Path

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("must be an absolute path (relative paths are resolved at load)")
        return value


TargetConfig = LocalTarget


class Settings(_Strict):
    """The whole configuration file."""

    data_dir: Path = Path("monitor-data")
    database: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in data_dir"
    )
    timezone: TimeZoneName = "UTC"
    reviewer: str | None = Field(default=None, description="name recorded on reviews")
    defaults: Defaults = Field(default_factory=Defaults)
    targets: list[TargetConfig] = Field(default_factory=list, alias="target")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        seen: set[str] = set()
        for target in self.targets:
            if target.name in seen:
                raise ValueError(f"two targets are named {target.name!r}")
            seen.add(target.name)
        return self

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.data_dir / 'monitor.db'}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def target(self, name: str) -> TargetConfig:
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets) or "none configured"
        raise ConfigError(f"no target named {name!r} (targets: {known})")


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, expand and validate a config file; raise ConfigError naming what is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file (create one with 'monitor init')") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return settings_from_dict(raw, path=path, environ=os.environ if environ is None else environ)


def settings_from_dict(
    raw: dict[str, Any], *, path: Path, environ: Mapping[str, str]
) -> Settings:
    """Validate an already parsed config; ``path`` locates relative paths and errors."""
    data = _expand(raw, environ, path=path, where=())
    base = path.parent.resolve()
    if isinstance(data.get("data_dir"), str):
        data["data_dir"] = str(base / data["data_dir"])
    elif "data_dir" not in data:
        data["data_dir"] = str(base / "monitor-data")
    targets = data.get("target", [])
    if isinstance(targets, list):
        defaults = data.get("defaults", {})
        data["target"] = [_with_defaults(t, defaults, base) for t in targets]
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, data)) from exc


def _with_defaults(target: object, defaults: object, base: Path) -> object:
    if not isinstance(target, dict):
        return target
    merged = dict(defaults) if isinstance(defaults, dict) else {}
    merged.update(target)
    if isinstance(merged.get("path"), str) and merged.get("kind") == "local":
        merged["path"] = str(base / Path(merged["path"]).expanduser())
    return merged


def _expand(value: Any, environ: Mapping[str, str], *, path: Path, where: tuple[Any, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, environ, path=path, where=(*where, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, path=path, where=(*where, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{path}: {_key_path(where)}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )

    return _ENV_REF.sub(replace, value)


def _key_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(exc: ValidationError, path: Path, data: dict[str, Any]) -> str:
    lines = [f"{path}: invalid configuration"]
    for error in exc.errors():
        loc = tuple(error["loc"])
        label = _key_path(loc)
        if len(loc) >= 2 and loc[0] == "target" and isinstance(loc[1], int):
            target = data.get("target", [])[loc[1]]
            if isinstance(target, dict) and isinstance(target.get("name"), str):
                label = _key_path(loc[2:], prefix=f"target[{loc[1]}] ({target['name']})")
        message = _message(error)
        key = str(loc[-1]) if loc else ""
        quiet = error["type"] in {"missing", "extra_forbidden"} or "got " in message
        if not quiet and not _SECRET_KEY.search(key):
            shown = repr(error.get("input"))
            message += f" (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
        lines.append(f"  {label}: {message}")
    return "\n".join(lines)


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see config.example.toml)"
    if kind == "missing":
        return "required key is missing"
    text = str(error["msg"])
    return text.removeprefix("Value error, ")
