"""The config file: parsing of durations and sizes, ${ENV} expansion, defaults, paths, errors."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import (
    DEFAULT_CONFIG_NAME,
    Defaults,
    LocalTarget,
    Settings,
    load_settings,
    parse_duration,
    parse_size,
    settings_from_dict,
)
from monitor.config import _message as _message
from monitor.errors import ConfigError, MonitorError

TARGET = """
[[target]]
name = "drop"
kind = "local"
path = "/srv/drop"
"""


def write(folder: Path, text: str, name: str = DEFAULT_CONFIG_NAME) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(folder: Path, text: str, environ: Mapping[str, str] | None = None) -> Settings:
    return load_settings(write(folder, text), environ={} if environ is None else environ)


def load_error(folder: Path, text: str, environ: Mapping[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(folder, text, environ)
    return str(caught.value)


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1.5d", timedelta(days=1, hours=12)),
        ("45s", timedelta(seconds=45)),
        ("500ms", timedelta(milliseconds=500)),
        ("2w", timedelta(weeks=2)),
        ("1H", timedelta(hours=1)),
        (" 10m ", timedelta(minutes=10)),
        ("90", timedelta(seconds=90)),
        ("0s", timedelta(0)),
        (90, timedelta(seconds=90)),
        (0, timedelta(0)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(minutes=3), timedelta(minutes=3)),
    ],
)
def test_parse_duration(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "expected a duration like '30m', '2h' or '1h30m', got 'abc'"),
        ("", "expected a duration like '30m', '2h' or '1h30m', got ''"),
        ("1h30", "expected a duration like '30m', '2h' or '1h30m', got '1h30'"),
        ("h", "expected a duration like '30m', '2h' or '1h30m', got 'h'"),
        ("1.5.5m", "expected a duration like '30m', '2h' or '1h30m', got '1.5.5m'"),
        ("5 minutes", "expected a duration like '30m', '2h' or '1h30m', got '5 minutes'"),
        (True, "expected a duration like '30m', '2h' or '1h30m', got True"),
        (None, "expected a duration like '30m', '2h' or '1h30m', got None"),
        ([1], "expected a duration like '30m', '2h' or '1h30m', got [1]"),
        (float("nan"), "expected a duration like '30m', '2h' or '1h30m', got nan"),
        (float("inf"), "expected a duration like '30m', '2h' or '1h30m', got inf"),
        ("-5m", "a duration cannot be negative, got '-5m'"),
        ("-30", "a duration cannot be negative, got '-30'"),
        (-5, "a duration cannot be negative, got -5"),
        (
            timedelta(seconds=-1),
            "a duration cannot be negative, got datetime.timedelta(days=-1, seconds=86399)",
        ),
        ("99999999999d", "a duration this long is not supported, got '99999999999d'"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert str(caught.value) == message


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200MB", 200 * 10**6),
        ("1.5GiB", 3 * 2**29),
        ("512K", 512_000),
        ("1KiB", 1024),
        ("5Ki", 5 * 1024),
        ("5kib", 5 * 1024),
        ("2 TB", 2 * 10**12),
        ("1PiB", 2**50),
        ("10 B", 10),
        ("10b", 10),
        ("10", 10),
        ("1.5 gb", 1_500_000_000),
        ("1.001KB", 1001),  # exact decimal arithmetic, not 1000.9999…
        ("1.1KiB", 1126),  # 1126.4 bytes, rounded to the nearest byte
        ("0.0005KB", 1),  # half a byte rounds up
        (" 3MB ", 3_000_000),
        (0, 0),
        (4096, 4096),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "expected a size like '200MB' or '1.5GiB', got 'abc'"),
        ("", "expected a size like '200MB' or '1.5GiB', got ''"),
        ("1iB", "expected a size like '200MB' or '1.5GiB', got '1iB'"),
        ("1i", "expected a size like '200MB' or '1.5GiB', got '1i'"),
        ("5XB", "expected a size like '200MB' or '1.5GiB', got '5XB'"),
        ("MB", "expected a size like '200MB' or '1.5GiB', got 'MB'"),
        ("1e6", "expected a size like '200MB' or '1.5GiB', got '1e6'"),
        (1.5, "expected a size like '200MB' or '1.5GiB', got 1.5"),
        (True, "expected a size like '200MB' or '1.5GiB', got True"),
        (None, "expected a size like '200MB' or '1.5GiB', got None"),
        ("-5MB", "a size cannot be negative, got '-5MB'"),
        (-5, "a size cannot be negative, got -5"),
        ("1.5", "a size in bytes must be a whole number, got '1.5'"),
        ("0.5B", "a size in bytes must be a whole number, got '0.5B'"),
    ],
)
def test_parse_size_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_size(value)
    assert str(caught.value) == message


# --- a whole file ------------------------------------------------------------------------------


def test_minimal_file_gets_every_default(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    assert settings.data_dir == tmp_path.resolve() / "monitor-data"
    assert settings.database is None
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/monitor-data/monitor.db"
    assert settings.timezone == "UTC"
    assert settings.zone.key == "UTC"
    assert settings.reviewer is None
    assert settings.defaults == Defaults()
    assert settings.targets == []


def test_defaults_field_values() -> None:
    assert Defaults().model_dump() == {
        "enabled": True,
        "every": "1800s",
        "settle": "3600s",
        "batch_depth": 1,
        "max_removed_ratio": 0.5,
        "suspect_min_removed": 10,
        "include": [],
        "exclude": [],
        "max_entries": 1_000_000,
        "cron": None,
        "jitter": "30s",
        "notify_to": [],
        "watch": [],
        "down_after": 3,
        "stale_after": None,
        "archive": {
            "enabled": False,
            "include": [],
            "exclude": [],
            "max_file_size": 1_000_000_000,
            "max_bytes_per_poll": 10_000_000_000,
            "quota": None,
            "max_age": None,
        },
    }


def test_default_config_name() -> None:
    assert DEFAULT_CONFIG_NAME == "monitor.toml"


def test_database_url_uses_the_database_key_when_set(tmp_path: Path) -> None:
    settings = load(tmp_path, 'database = "postgresql+psycopg://user@host/db"')
    assert settings.database_url == "postgresql+psycopg://user@host/db"


def test_empty_database_falls_back_to_sqlite(tmp_path: Path) -> None:
    settings = load(tmp_path, 'data_dir = "/var/lib/m"\ndatabase = "${DB:-}"')
    assert settings.database_url == "sqlite:////var/lib/m/monitor.db"


def test_relative_paths_resolve_next_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    folder = tmp_path.resolve() / "conf"
    folder.mkdir()
    text = """
        data_dir = "state"
        [[target]]
        name = "drop"
        kind = "local"
        path = "./drop"
        [[target]]
        name = "abs"
        kind = "local"
        path = "/srv/abs"
    """
    settings = load_settings(write(folder, text), environ={})
    assert settings.data_dir == folder / "state"
    assert settings.database_url == f"sqlite:///{folder}/state/monitor.db"
    assert settings.target("drop").path == folder / "drop"
    assert settings.target("abs").path == Path("/srv/abs")


def test_relative_config_path_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, 'data_dir = "d"\n' + TARGET.replace("/srv/drop", "in"))
    monkeypatch.chdir(tmp_path)
    settings = load_settings(Path(DEFAULT_CONFIG_NAME), environ={})
    assert settings.data_dir == tmp_path.resolve() / "d"
    assert settings.target("drop").path == tmp_path.resolve() / "in"


def test_home_is_expanded_in_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/ana")
    settings = load(tmp_path, 'data_dir = "~/state"\n' + TARGET.replace("/srv/drop", "~/drop"))
    assert settings.data_dir == Path("/home/ana/state")
    assert settings.target("drop").path == Path("/home/ana/drop")


def test_local_target_needs_an_absolute_path_when_built_directly() -> None:
    with pytest.raises(ValueError, match="must be an absolute path"):
        LocalTarget(name="x", kind="local", path=Path("relative"))


def test_defaults_are_merged_into_each_target_and_the_target_wins(tmp_path: Path) -> None:
    text = """
        [defaults]
        every = "2h"
        settle = "10m"
        exclude = ["*.tmp"]
        [[target]]
        name = "a"
        kind = "local"
        path = "/a"
        [[target]]
        name = "b"
        kind = "local"
        path = "/b"
        every = "5m"
        exclude = []
        enabled = false
    """
    settings = load(tmp_path, text)
    a, b = settings.target("a"), settings.target("b")
    assert settings.defaults.every == timedelta(hours=2)
    assert (a.every, a.settle, a.exclude, a.enabled) == (
        timedelta(hours=2),
        timedelta(minutes=10),
        ["*.tmp"],
        True,
    )
    assert (b.every, b.settle, b.exclude, b.enabled) == (
        timedelta(minutes=5),
        timedelta(minutes=10),
        [],
        False,
    )
    assert a.max_entries == 1_000_000  # neither sets it: the model default


def test_target_lookup(tmp_path: Path) -> None:
    settings = load(tmp_path, TARGET)
    assert settings.target("drop").name == "drop"
    with pytest.raises(ConfigError) as caught:
        settings.target("nope")
    assert str(caught.value) == "no target named 'nope' (targets: drop)"
    with pytest.raises(ConfigError) as none:
        load(tmp_path, "").target("x")
    assert str(none.value) == "no target named 'x' (targets: none configured)"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load(tmp_path, TARGET)
    with pytest.raises(ValueError, match="frozen"):
        settings.timezone = "Europe/Paris"  # type: ignore[misc]


def test_settings_from_dict_resolves_against_the_given_path(tmp_path: Path) -> None:
    raw = {"target": [{"name": "t", "kind": "local", "path": "x"}]}
    settings = settings_from_dict(raw, path=tmp_path / "m.toml", environ={})
    assert settings.target("t").path == tmp_path.resolve() / "x"
    assert raw == {"target": [{"name": "t", "kind": "local", "path": "x"}]}  # not mutated


def test_durations_in_the_file_serialise_so_they_read_back(tmp_path: Path) -> None:
    settings = load(tmp_path, '[defaults]\nevery = "1h30m"\nsettle = "1500ms"\n' + TARGET)
    dumped = settings.defaults.model_dump()
    assert (dumped["every"], dumped["settle"]) == ("5400s", "1.5s")
    assert parse_duration(dumped["settle"]) == timedelta(seconds=1.5)


# --- ${ENV} expansion --------------------------------------------------------------------------


def test_env_references_are_expanded_from_the_given_mapping(tmp_path: Path) -> None:
    text = """
        reviewer = "${WHO} at ${SITE:-home}"
        database = "postgresql+psycopg://u:${DB_PW}@h/db"
        [defaults]
        every = "${EVERY:-45m}"
        include = ["${DIR}/*.pdf"]
        [[target]]
        name = "drop"
        kind = "local"
        path = "${ROOT}/drop"
    """
    environ = {"WHO": "ana", "DB_PW": "s3cret", "DIR": "in", "ROOT": "/srv", "SITE": "lab"}
    settings = load(tmp_path, text, environ)
    assert settings.reviewer == "ana at lab"
    assert settings.database_url == "postgresql+psycopg://u:s3cret@h/db"
    assert settings.defaults.every == timedelta(minutes=45)
    assert settings.target("drop").include == ["in/*.pdf"]
    assert settings.target("drop").path == Path("/srv/drop")


def test_env_default_used_only_when_unset(tmp_path: Path) -> None:
    text = 'reviewer = "${WHO:-nobody}"'
    assert load(tmp_path, text, {}).reviewer == "nobody"
    assert load(tmp_path, text, {"WHO": ""}).reviewer == ""  # set but empty is still set
    assert load(tmp_path, 'reviewer = "${WHO:-}"', {}).reviewer == ""


def test_double_dollar_is_a_literal_and_values_are_not_expanded_twice(tmp_path: Path) -> None:
    text = 'reviewer = "$${literal} $$ and ${A}"'
    settings = load(tmp_path, text, {"A": "${B}", "B": "no"})
    assert settings.reviewer == "${literal} $$ and ${B}"


def test_env_is_read_from_os_environ_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_TEST_REVIEWER", "from-env")
    path = write(tmp_path, 'reviewer = "${MONITOR_TEST_REVIEWER}"')
    assert load_settings(path).reviewer == "from-env"


def test_missing_env_variable_names_file_key_path_and_variable(tmp_path: Path) -> None:
    text = TARGET.replace('"/srv/drop"', '"${DROP_ROOT}/in"')
    message = load_error(tmp_path, text)
    assert message == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: target[0].path: environment variable DROP_ROOT "
        "is not set (set it, or write ${DROP_ROOT:-default})"
    )


def test_missing_env_variable_in_a_list_and_top_level(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[defaults]\nexclude = ["a", "${PAT}"]')
    assert message.endswith(
        ": defaults.exclude[1]: environment variable PAT is not set "
        "(set it, or write ${PAT:-default})"
    )
    message = load_error(tmp_path, 'reviewer = "${WHO}"')
    assert message.startswith(
        f"{tmp_path / DEFAULT_CONFIG_NAME}: reviewer: environment variable WHO"
    )


@pytest.mark.parametrize("value", ["${ WHO }", "${WHO", "${1X}", "${WHO:-${OTHER}}", "${}"])
def test_malformed_env_reference_is_an_error(tmp_path: Path, value: str) -> None:
    message = load_error(tmp_path, f'[[target]]\nname = "t"\nkind = "local"\npath = "{value}"')
    assert message == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: target[0].path: malformed ${{...}} reference; write "
        "${NAME} or ${NAME:-default} (defaults cannot hold another reference), or $${ for a "
        "literal ${"
    )


def test_missing_env_error_never_shows_other_values(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'database = "postgresql://u:hunter2@h/${DBNAME}"')
    assert "hunter2" not in message
    assert "environment variable DBNAME is not set" in message


# --- validation errors -------------------------------------------------------------------------


def test_unknown_key_in_a_target_names_the_key_path_and_target(tmp_path: Path) -> None:
    text = TARGET + '\n[[target]]\nname = "x"\nkind = "local"\npath = "/x"\nfrob = 1\n'
    assert load_error(tmp_path, text) == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  target[1] (x).frob: unknown key (check the spelling; see config.example.toml)"
    )


def test_unknown_keys_at_top_level_and_in_defaults(tmp_path: Path) -> None:
    assert load_error(tmp_path, 'colour = 1\n[defaults]\nevry = "1h"\n' + TARGET) == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  defaults.evry: unknown key (check the spelling; see config.example.toml)\n"
        "  colour: unknown key (check the spelling; see config.example.toml)"
    )


def test_an_error_in_defaults_is_reported_once_not_per_target(tmp_path: Path) -> None:
    text = '[defaults]\nevery = "often"\n' + TARGET + TARGET.replace('"drop"', '"two"')
    assert load_error(tmp_path, text) == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  defaults.every: expected a duration like '30m', '2h' or '1h30m', got 'often'"
    )


def test_a_target_overriding_a_bad_default_is_reported_on_its_own(tmp_path: Path) -> None:
    text = '[defaults]\nevery = "often"\n' + TARGET + 'every = "-1h"\n'
    assert load_error(tmp_path, text) == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  defaults.every: expected a duration like '30m', '2h' or '1h30m', got 'often'\n"
        "  target[0] (drop).every: a duration cannot be negative, got '-1h'"
    )


def test_wrong_types_are_reported_with_the_value(tmp_path: Path) -> None:
    text = """
        reviewer = 5
        [defaults]
        batch_depth = "deep"
        max_removed_ratio = 2
        include = "*.pdf"
        enabled = "perhaps"
        max_entries = 0
        [[target]]
        name = "drop"
        kind = "ftp"
        path = "/srv"
    """
    assert load_error(tmp_path, text) == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  reviewer: Input should be a valid string (got 5)\n"
        "  defaults.enabled: Input should be a valid boolean, unable to interpret input "
        "(got 'perhaps')\n"
        "  defaults.batch_depth: Input should be a valid integer, unable to parse string as an "
        "integer (got 'deep')\n"
        "  defaults.max_removed_ratio: Input should be less than or equal to 1 (got 2)\n"
        "  defaults.include: Input should be a valid list (got '*.pdf')\n"
        "  defaults.max_entries: Input should be greater than or equal to 1 (got 0)\n"
        "  target[0] (drop).kind: Input should be 'local' (got 'ftp')"
    )


def test_zero_polling_interval_is_rejected(tmp_path: Path) -> None:
    assert load_error(tmp_path, TARGET + 'every = "0s"\n') == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  target[0] (drop).every: the polling interval must be longer than zero (got '0s')"
    )


def test_missing_target_keys(tmp_path: Path) -> None:
    assert load_error(tmp_path, "[[target]]\nenabled = false\n") == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  target[0].name: required key is missing\n"
        "  target[0].kind: required key is missing\n"
        "  target[0].path: required key is missing"
    )


@pytest.mark.parametrize("name", ["has space", "-dash", "", "é", "x" * 65])
def test_bad_target_names(tmp_path: Path, name: str) -> None:
    message = load_error(tmp_path, TARGET.replace('"drop"', f'"{name}"'))
    assert message == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        f"  target[0] ({name}).name: a target name is 1 to 64 letters, digits, '.', '_' or '-', "
        f"starting with a letter or digit, got {name!r}"
    )


def test_good_target_names(tmp_path: Path) -> None:
    for name in ["a", "Vendor_FTP-2.daily", "9" * 64]:
        assert load(tmp_path, TARGET.replace('"drop"', f'"{name}"')).targets[0].name == name


def test_duplicate_target_names(tmp_path: Path) -> None:
    text = TARGET + TARGET.replace('"drop"', '"other"') + TARGET
    assert load_error(tmp_path, text) == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  target: two targets are named 'drop' (target[0] and target[2])"
    )


def test_targets_spelt_as_plural_or_single_table(tmp_path: Path) -> None:
    assert load_error(tmp_path, TARGET.replace("[[target]]", "[[targets]]")) == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  targets: unknown key (write each target as a [[target]] table)"
    )
    assert load_error(tmp_path, TARGET.replace("[[target]]", "[target]")) == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  target: Input should be a valid list (write each target as a [[target]] table)"
    )


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "utc", "../etc", "/etc/localtime", ""])
def test_bad_time_zone(tmp_path: Path, zone: str) -> None:
    assert load_error(tmp_path, f'timezone = "{zone}"') == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        f"  timezone: unknown time zone {zone!r}; use a name such as 'Europe/Paris'"
    )


def test_time_zone_must_be_a_string(tmp_path: Path) -> None:
    assert load_error(tmp_path, "timezone = 1") == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        "  timezone: expected a time zone name such as 'Europe/Paris' or 'UTC' (got 1)"
    )


def test_good_time_zone(tmp_path: Path) -> None:
    settings = load(tmp_path, 'timezone = "America/New_York"')
    assert settings.zone.key == "America/New_York"


def test_long_values_are_shortened_in_errors(tmp_path: Path) -> None:
    message = load_error(tmp_path, f"reviewer = {'1' * 100}")
    assert message.endswith(f"  reviewer: Input should be a valid string (got {'1' * 60}…)")


# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["password", "api_token", "client_secret", "db_pass"])
def test_secret_values_are_never_echoed(tmp_path: Path, key: str) -> None:
    secret = "hunter2-Sup3r"
    text = (
        f'{key} = "{secret}"\n[defaults]\n{key} = "{secret}"\n' + TARGET + f'{key} = "{secret}"\n'
    )
    message = load_error(tmp_path, text)
    assert secret not in message
    assert message == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: invalid configuration\n"
        f"  defaults.{key}: unknown key (check the spelling; see config.example.toml)\n"
        f"  target[0] (drop).{key}: unknown key (check the spelling; see config.example.toml)\n"
        f"  {key}: unknown key (check the spelling; see config.example.toml)"
    )


def test_secret_values_are_redacted_from_validator_messages() -> None:
    # No field of today's models has a secret-looking name, so the redaction is checked directly.
    error = {
        "type": "value_error",
        "msg": "Value error, bad, got 'hunter2-x'",
        "input": "hunter2-x",
    }
    assert _message(error, ("target", 0, "password")) == "bad, got '***'"
    error = {"type": "value_error", "msg": "Value error, bad: hunter2-x", "input": "hunter2-x"}
    assert _message(error, ("defaults", "client_secret")) == "bad: ***"
    error = {"type": "string_type", "msg": "Input should be a valid string", "input": 12345}
    assert _message(error, ("target", 0, "api_token")) == "Input should be a valid string"
    assert _message(error, ("target", 0, "tokens", 1)) == "Input should be a valid string"
    assert _message(error, ("target", 0, "label")) == "Input should be a valid string (got 12345)"


# --- the file itself ---------------------------------------------------------------------------


def test_missing_file_says_to_run_init(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value) == f"{path}: no such config file (create one with 'monitor init')"
    assert isinstance(caught.value, MonitorError)


def test_broken_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'timezone = "UTC"\nreviewer = \n')
    assert message == (
        f"{tmp_path / DEFAULT_CONFIG_NAME}: not valid TOML: Invalid value (at line 2, column 12)"
    )


def test_duplicate_toml_key_is_a_toml_error(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'reviewer = "a"\nreviewer = "b"\n')
    assert message.startswith(f"{tmp_path / DEFAULT_CONFIG_NAME}: not valid TOML: ")
    assert "(at line 2, column" in message


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "bin.toml").write_bytes(b'reviewer = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "bin.toml", environ={})
    assert str(caught.value).startswith(f"{tmp_path / 'bin.toml'}: cannot read the config file: ")
    with pytest.raises(ConfigError) as folder:
        load_settings(tmp_path, environ={})
    assert str(folder.value).startswith(f"{tmp_path}: cannot read the config file: ")
