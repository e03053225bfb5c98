"""The configuration: a TOML file validated into one pydantic model tree.

Every error names the file, the key path and what was expected. Strings may hold ``${VAR}`` or
``${VAR:-default}``, replaced from the environment before validation (``$${`` is a literal
``${``); this is the only place that reads the environment. Durations are written ``"30m"``,
``"2h"``, ``"1h30m"`` or as seconds; sizes as ``"200MB"``, ``"1.5GiB"`` or as bytes.

Each ``[[target]]`` is validated by the model of its ``kind`` (:data:`TARGET_MODELS`). The
``[defaults]`` table may hold any key of any target model (except ``name`` and ``kind``); a
key is merged into each target whose model has it and that does not set it itself, so
``concurrency = 4`` in ``[defaults]`` reaches every ``http`` target and no ``local`` one.
Relative paths (``data_dir``, a local target's ``path``, an http target's ``ca_bundle``,
``client_cert`` and ``client_key``) are resolved against the folder that holds the config
file. A value under a key whose name suggests a secret (``password``, ``token``…) is never
repeated in an error message, nor are the credentials of a URL.

Modules: :mod:`~monitor.config.values` (value types), :mod:`~monitor.config.targets` (target
models), :mod:`~monitor.config.alerting` (daemon, notify, watch rules),
:mod:`~monitor.config.archive` (what is archived, and where), :mod:`~monitor.config.web`
(the web UI), :mod:`~monitor.config.settings`
(the whole file), :mod:`~monitor.config.loading` (reading it).
"""

from monitor.config.alerting import Daemon, Notify, Smtp, WatchRule
from monitor.config.archive import ArchiveRules, ArchiveStore
from monitor.config.loading import _message, load_settings, settings_from_dict
from monitor.config.settings import Settings
from monitor.config.targets import (
    TARGET_MODELS,
    BasicAuth,
    BearerAuth,
    Defaults,
    DigestAuth,
    HttpAuth,
    HttpTarget,
    LocalTarget,
    TargetConfig,
    target_kind,
)
from monitor.config.values import (
    Duration,
    HiddenValue,
    Size,
    TimeZoneName,
    parse_duration,
    parse_size,
)
from monitor.config.web import ApiToken, Web, WebUser, is_loopback

DEFAULT_CONFIG_NAME = "monitor.toml"

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "TARGET_MODELS",
    "ApiToken",
    "ArchiveRules",
    "ArchiveStore",
    "BasicAuth",
    "BearerAuth",
    "Daemon",
    "Defaults",
    "DigestAuth",
    "Duration",
    "HiddenValue",
    "HttpAuth",
    "HttpTarget",
    "LocalTarget",
    "Notify",
    "Settings",
    "Size",
    "Smtp",
    "TargetConfig",
    "TimeZoneName",
    "WatchRule",
    "Web",
    "WebUser",
    "_message",
    "is_loopback",
    "load_settings",
    "parse_duration",
    "parse_size",
    "settings_from_dict",
    "target_kind",
]
