"""The whole configuration file as one model."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, field_validator

from monitor.config.alerting import Daemon, Notify
from monitor.config.archive import ArchiveStore
from monitor.config.targets import Defaults, TargetConfig
from monitor.config.values import TimeZoneName, _Strict
from monitor.config.web import Web
from monitor.errors import ConfigError


class Settings(_Strict):
    """The whole configuration file."""

    data_dir: Path = Path("monitor-data")
    database: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in data_dir"
    )
    timezone: TimeZoneName = "UTC"
    reviewer: str | None = Field(default=None, description="name recorded on reviews")
    defaults: Defaults = Field(default_factory=Defaults)
    daemon: Daemon = Field(default_factory=Daemon)
    notify: Notify = Field(default_factory=Notify)
    archive: ArchiveStore = Field(default_factory=ArchiveStore)
    web: Web = Field(default_factory=Web)
    targets: list[TargetConfig] = Field(default_factory=list, alias="target")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, targets: list[TargetConfig]) -> list[TargetConfig]:
        seen: dict[str, int] = {}
        for index, target in enumerate(targets):
            if target.name in seen:
                raise ValueError(
                    f"two targets are named {target.name!r} "
                    f"(target[{seen[target.name]}] and target[{index}])"
                )
            seen[target.name] = index
        return targets

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.data_dir / 'monitor.db'}"

    @property
    def blob_store_url(self) -> str:
        """Where archived bodies go: ``[archive] store``, else ``<data_dir>/blobs``."""
        return self.archive.store or (self.data_dir / "blobs").as_uri()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def target(self, name: str) -> TargetConfig:
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets) or "none configured"
        raise ConfigError(f"no target named {name!r} (targets: {known})")
