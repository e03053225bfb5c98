"""The deployment files: docker-compose.yml, the Dockerfile, the systemd unit.

Docker cannot run here, so what can be checked is checked: the compose file parses and holds
the whole product; every command it, the Dockerfile and the unit run is a valid ``monitor``
invocation; the config the compose file mounts validates with the environment it sets; and
the sample drop's nginx location serves a listing the daemon's target reads in full.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.main import get_command

from monitor.cli import app
from monitor.config import HttpTarget, load_settings
from monitor.sources import make_source
from tests.servers import nginx

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
UNIT = ROOT / "deploy" / "filedrop-monitor.service"


#: Typer bundles its own click and exports only this subclass of its UsageError.
UsageError = typer.BadParameter.__mro__[1]


def invoke(args: list[str]) -> list[str]:
    """Parse ``monitor ARGS`` as the CLI would; return the command path. Raises on bad usage."""
    command: Any = get_command(app)
    names = ["monitor"]
    ctx = command.make_context("monitor", list(args))
    while hasattr(command, "resolve_command"):  # a group
        rest = [*ctx._protected_args, *ctx.args]
        assert rest, f"{args}: no command given"
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None, f"{args}: unknown command"
        names.append(name)
        command = sub
        ctx = command.make_context(name, rest, parent=ctx)
    return names


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_invoke_rejects_bad_invocations() -> None:
    assert invoke(["db", "upgrade"]) == ["monitor", "db", "upgrade"]
    with pytest.raises(UsageError):
        invoke(["no-such-command"])
    with pytest.raises(UsageError):
        invoke(["poll", "--no-such-option"])


def test_compose_holds_the_whole_product() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "mailpit", "drop", "migrate", "monitor"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert services["drop"]["image"].startswith("nginx:")
    assert services["monitor"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    # Longer than the daemon's grace, so a stop drains in-flight polls before a kill.
    assert services["monitor"]["stop_grace_period"] == "40s"


@pytest.mark.parametrize("service", ["migrate", "monitor"])
def test_compose_commands_are_valid_cli_invocations(service: str) -> None:
    command = compose()["services"][service]["command"]
    assert invoke(command)[1] in {"db", "run"}


def compose_config_environ() -> dict[str, str]:
    env = compose()["services"]["monitor"]["environment"]
    default = re.fullmatch(r"\$\{\w+:-(.*)\}", env["MONITOR_DB_PASSWORD"])
    assert default is not None
    return {"MONITOR_DB_PASSWORD": default.group(1)}


def test_the_mounted_config_validates() -> None:
    monitor = compose()["services"]["monitor"]
    mounts = dict(v.rsplit(":", 2)[:2] for v in monitor["volumes"] if v.startswith("./"))
    config = ROOT / mounts["./docker/monitor.toml"].removeprefix("/")
    assert mounts["./docker/monitor.toml"] == monitor["environment"]["MONITOR_CONFIG"]
    settings = load_settings(ROOT / "docker/monitor.toml", environ=compose_config_environ())
    assert settings.database_url.startswith("postgresql+psycopg://monitor:monitor@db/")
    assert settings.notify.smtp is not None and settings.notify.smtp.host == "mailpit"
    (target,) = settings.targets
    assert isinstance(target, HttpTarget) and target.url == "http://drop/"
    assert config.name == "monitor.toml"


def test_the_dockerfile_runs_the_daemon_as_a_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if line]
    instructions = [line.split(None, 1) for line in lines if not line.startswith("#")]
    first = {}
    for word, *rest in instructions:
        first.setdefault(word, rest[0] if rest else "")
    assert first["FROM"].endswith("-slim")
    users = [rest[0] for word, *rest in instructions if word == "USER"]
    assert users and users[-1] not in {"root", "0"}
    entry = [rest[0] for word, *rest in instructions if word == "ENTRYPOINT"][-1]
    cmd = [rest[0] for word, *rest in instructions if word == "CMD"][-1]
    assert yaml.safe_load(entry) == ["monitor"]
    assert invoke(yaml.safe_load(cmd)) == ["monitor", "run"]


def test_the_systemd_unit_runs_valid_commands() -> None:
    text = UNIT.read_text(encoding="utf-8")
    commands = re.findall(r"^Exec(?:Start|StartPre)=(.+)$", text, re.MULTILINE)
    assert len(commands) == 2
    for line in commands:
        program, *args = shlex.split(line)
        assert program.endswith("/bin/monitor")
        assert invoke(args)[1] in {"db", "run"}
    assert re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", text, re.MULTILINE)
    assert re.search(r"^User=(?!root)\S+$", text, re.MULTILINE)


def test_the_sample_drop_is_listed_in_full(tmp_path: Path) -> None:
    conf = (ROOT / "docker/nginx.conf").read_text(encoding="utf-8")
    location = re.search(r"location / \{[^}]*\}", conf)
    assert location is not None
    with nginx(ROOT / "docker/drop", tmp_path, locations=location.group(0)) as url:
        settings = load_settings(ROOT / "docker/monitor.toml", environ=compose_config_environ())
        target = HttpTarget.model_validate(
            {**settings.targets[0].model_dump(), "url": url, "auth": None}
        )
        listing = asyncio.run(make_source(target).list())
    expected = {
        p.relative_to(ROOT / "docker/drop").as_posix(): p.stat().st_size if p.is_file() else None
        for p in (ROOT / "docker/drop").rglob("*")
    }
    assert {e.path: e.size for e in listing.entries} == expected
    assert listing.failed_folders == []
