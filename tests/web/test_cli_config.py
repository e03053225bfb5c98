"""``monitor web-password``, the ``[web]`` settings' errors, and the session key file."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import termios
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.web.passwords import hash_password, hash_token, verify_password
from monitor.web.sessions import SECRET_FILE, secret_key
from tests.web.conftest import web_settings

HASH_LINE = re.compile(r'password_hash = "(scrypt\$[^"]+)"')


def test_web_password_from_stdin() -> None:
    result = CliRunner().invoke(app, ["web-password", "--stdin"], input="s3cret pass\n")
    assert result.exit_code == 0, result.output
    match = HASH_LINE.fullmatch(result.stdout.strip())
    assert match, result.stdout
    assert verify_password("s3cret pass", match.group(1))
    assert not verify_password("s3cret pas", match.group(1))
    assert "s3cret" not in result.stdout
    again = CliRunner().invoke(app, ["web-password", "--stdin"], input="s3cret pass\n")
    assert HASH_LINE.fullmatch(again.stdout.strip()).group(1) != match.group(1)  # type: ignore[union-attr]


def test_web_password_refuses_an_empty_one() -> None:
    result = CliRunner().invoke(app, ["web-password", "--stdin"], input="\n")
    assert result.exit_code == 2 and "empty" in result.stderr


def test_web_password_token() -> None:
    result = CliRunner().invoke(app, ["web-password", "--token"])
    assert result.exit_code == 0
    token_line, hash_line = result.stdout.strip().splitlines()
    token = token_line.removeprefix("token: ")
    assert token.startswith("mon_") and len(token) > 40
    assert hash_line == f'token_hash = "{hash_token(token)}"'


def run_on_a_terminal(*answers: str) -> tuple[int, str]:
    """``monitor web-password`` with a real terminal: type each answer at its prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execv(sys.executable, [sys.executable, "-m", "monitor", "web-password"])
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + 120
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([fd], [], [], left)[0]:
                break  # the deadline passed
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if pending and output.rstrip().endswith((b"Password:", b"Again:")):
                _wait_for_no_echo(fd)  # what is typed before getpass turns echo off is lost
                os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        status = _reap(pid)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def _wait_for_no_echo(fd: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
        time.sleep(0.01)


def _reap(pid: int, timeout: float = 15.0) -> int:
    """The child's wait status; killed first if it has not ended within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def test_web_password_asks_twice_without_echo() -> None:
    code, output = run_on_a_terminal("typed secret", "typed secret")
    assert code == 0, output
    assert "Password:" in output and "Again:" in output
    assert "typed secret" not in output  # not echoed
    match = HASH_LINE.search(output)
    assert match and verify_password("typed secret", match.group(1))


def test_web_password_two_different_answers() -> None:
    code, output = run_on_a_terminal("one secret", "another one")
    assert code == 2 and "the two passwords differ" in output


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"users": [{"name": "ana", "password_hash": "plain"}]}, "web.users[0].password_hash"),
        (
            {"users": [{"name": "ana", "password_hash": hash_password("x", n=2**14)[:-4]}]},
            "scrypt",
        ),
        (
            {
                "users": [
                    {
                        "name": "ana",
                        "password_hash": "scrypt$n=1024,r=8,p=1$" + "A" * 22 + "$" + "B" * 43,
                    }
                ]
            },
            "scrypt n must be a power of two from 16384",
        ),
        ({"users": [{"name": "a b", "password_hash": "x"}]}, "web.users[0].name"),
        ({"api_tokens": [{"name": "p", "token_hash": "md5$00"}]}, "web.api_tokens[0].token_hash"),
        ({"secret_key": "short-key-123"}, "web.secret_key: must be at least 32 characters"),
        ({"port": 70000}, "web.port"),
        ({"bind": "http://0.0.0.0/"}, "web.bind"),
        ({"session_max_age": "0s"}, "web.session_max_age: must be longer than zero"),
        ({"trusted_proxies": ["proxy.local"]}, "web.trusted_proxies[0]: expected an IP address"),
    ],
)
def test_bad_web_settings(tmp_path: Path, web: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        web_settings(tmp_path, "sqlite://", **web)
    assert message in str(caught.value)
    assert "short-key-123" not in str(caught.value)


def test_user_names_are_unique(tmp_path: Path) -> None:
    line = hash_password("x", n=2**14)
    users = [{"name": "ana", "password_hash": line}, {"name": "ana", "password_hash": line}]
    with pytest.raises(ConfigError, match="'ana' is given twice"):
        web_settings(tmp_path, "sqlite://", users=users)


def test_secret_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text('[web]\nsecret_key = "${WEB_KEY}"\n', encoding="utf-8")
    settings = load_settings(config, environ={"WEB_KEY": "e" * 32})
    assert secret_key(settings) == "e" * 32
    assert not (settings.data_dir / SECRET_FILE).exists()


def test_secret_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    settings = web_settings(tmp_path, "sqlite://")
    first = secret_key(settings)
    path = settings.data_dir / SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(first) == 64 and secret_key(settings) == first
    assert [p.name for p in settings.data_dir.iterdir()] == [SECRET_FILE]  # no temp file left
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by others: chmod 600"):
        secret_key(settings)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(ConfigError, match="holds no usable key"):
        secret_key(settings)
