"""Reading a config file: environment references, ``[defaults]`` merging, error messages."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from monitor.config.settings import Settings
from monitor.config.targets import _IDENTITY_KEYS, _PATH_KEYS, TARGET_MODELS, Defaults, target_kind
from monitor.config.values import _ENV_REF, _SECRET_KEY, _URL_CREDENTIALS
from monitor.errors import ConfigError


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


def settings_from_dict(raw: dict[str, Any], *, path: Path, environ: Mapping[str, str]) -> Settings:
    """Validate an already parsed config; ``path`` locates relative paths and errors."""
    data = _expand(raw, environ, path=path, where=())
    if "targets" in data:
        raise ConfigError(
            f"{path}: invalid configuration\n"
            "  targets: unknown key (write each target as a [[target]] table)"
        )
    base = path.parent.resolve()
    if isinstance(data.get("data_dir"), str):
        data["data_dir"] = str(base / Path(data["data_dir"]).expanduser())
    elif "data_dir" not in data:
        data["data_dir"] = str(base / "monitor-data")
    smtp = data.get("notify", {}).get("smtp") if isinstance(data.get("notify"), dict) else None
    if isinstance(smtp, dict) and isinstance(smtp.get("ca_bundle"), str):
        smtp["ca_bundle"] = str(base / Path(smtp["ca_bundle"]).expanduser())
    inherited: list[set[str]] = []
    defaults = data.get("defaults", {})
    defaults = defaults if isinstance(defaults, dict) else {}
    early: list[Any] = []
    if defaults:
        data["defaults"], early = _split_defaults(defaults)
    targets = data.get("target")
    if isinstance(targets, list):
        data["target"] = [_with_defaults(t, defaults, base) for t in targets]
        inherited = [_inherited(t, defaults) for t in targets]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        errors = _merge_errors(exc.errors(), early)
        raise ConfigError(_describe(errors, path, data, inherited)) from exc
    if early:
        raise ConfigError(_describe(early, path, data, inherited))
    return settings


def _split_defaults(defaults: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The keys of ``[defaults]`` that the Defaults model checks, and errors in the others.

    A key that only some target models have (``url``, ``concurrency``…) is checked here against
    the first model that has it; unknown keys stay, so the model reports them.
    """
    common: dict[str, Any] = {}
    errors: list[Any] = []
    for key, value in defaults.items():
        models = [m for m in TARGET_MODELS.values() if key in m.model_fields]
        if key in Defaults.model_fields or not models:
            common[key] = value
        elif key in _IDENTITY_KEYS:
            errors.append(
                {
                    "type": "identity_in_defaults",
                    "loc": ("defaults", key),
                    "msg": "cannot be set in [defaults]; set it in each [[target]]",
                    "input": value,
                }
            )
        else:
            field = models[0].model_fields[key]
            try:
                annotated: Any = Annotated[field.annotation, field]
                TypeAdapter(annotated).validate_python(value)
            except ValidationError as exc:
                errors += [{**e, "loc": ("defaults", key, *e["loc"])} for e in exc.errors()]
    return common, errors


def _merge_errors(errors: list[Any], early: list[Any]) -> list[Any]:
    """Errors in order of the file: top-level keys and ``[defaults]`` first, then targets."""
    leading = {
        "data_dir",
        "database",
        "timezone",
        "reviewer",
        "defaults",
        "daemon",
        "notify",
        "archive",
        "web",
    }
    later = (i for i, e in enumerate(errors) if e["loc"] and e["loc"][0] not in leading)
    cut = next(later, len(errors))
    return [*errors[:cut], *early, *errors[cut:]]


def _inherited(target: object, defaults: dict[str, Any]) -> set[str]:
    if not isinstance(target, dict):
        return set()
    fields = TARGET_MODELS[target_kind(target)].model_fields
    return {k for k in defaults if k in fields and k not in _IDENTITY_KEYS and k not in target}


def _with_defaults(target: object, defaults: dict[str, Any], base: Path) -> object:
    if not isinstance(target, dict):
        return target
    kind = target_kind(target)
    fields = TARGET_MODELS[kind].model_fields
    inherited = {k: v for k, v in defaults.items() if k in fields and k not in _IDENTITY_KEYS}
    merged = {**inherited, **target}
    if merged.get("kind") == kind:
        for key in _PATH_KEYS.get(kind, ()):
            if isinstance(merged.get(key), str):
                merged[key] = str(base / Path(merged[key]).expanduser())
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
        if name is None or (default is not None and "${" in default):
            raise ConfigError(
                f"{path}: {_key_path(where)}: malformed ${{...}} reference; write ${{NAME}} or "
                "${NAME:-default} (defaults cannot hold another reference), or $${ for a "
                "literal ${"
            )
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


def _describe(
    errors: list[Any], path: Path, data: dict[str, Any], inherited: list[set[str]]
) -> str:
    bad_defaults = {e["loc"][1] for e in errors if len(e["loc"]) >= 2 and e["loc"][0] == "defaults"}
    lines = [f"{path}: invalid configuration"]
    for error in errors:
        loc = _without_tag(tuple(error["loc"]))
        label = _key_path(loc)
        if len(loc) >= 3 and loc[0] == "target" and isinstance(loc[1], int):
            if loc[2] in bad_defaults and loc[2] in inherited[loc[1]]:
                continue  # the same value is reported once, under [defaults]
            target = data["target"][loc[1]]
            if isinstance(target, dict) and isinstance(target.get("name"), str):
                label = _key_path(loc[2:], prefix=f"target[{loc[1]}] ({target['name']})")
        lines.append(f"  {label}: {_message(error, loc)}")
    return "\n".join(lines)


def _without_tag(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``target[0].http.auth.basic.password`` → ``target[0].auth.password``.

    Pydantic names the chosen member of a union by its kind; that is not a key the user wrote.
    """
    if len(loc) >= 3 and loc[0] == "target" and isinstance(loc[1], int) and loc[2] in TARGET_MODELS:
        loc = (*loc[:2], *loc[3:])
    if "auth" in loc:
        at = loc.index("auth") + 1
        if loc[at : at + 1] and loc[at] in {"basic", "digest", "bearer"}:
            loc = (*loc[:at], *loc[at + 1 :])
    return loc


def _message(error: Any, loc: tuple[Any, ...]) -> str:
    """A sentence about one error; echoes a short, plain input unless the key holds a secret."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see config.example.toml)"
    if kind == "missing":
        return "required key is missing"
    text = str(error["msg"]).removeprefix("Value error, ")
    if loc == ("target",) and kind == "list_type":
        text += " (write each target as a [[target]] table)"
    value = error.get("input")
    if any(isinstance(part, str) and _SECRET_KEY.search(part) for part in loc):
        if isinstance(value, str) and value:
            text = text.replace(repr(value), "'***'")
            text = text.replace(value, "***") if len(value) >= 4 else text
        return text
    shown = _URL_CREDENTIALS.sub(r"\1***@", repr(value))
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    if isinstance(value, str | int | float | bool) and shown not in text:
        text += f" (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
    return text
