"""The type of an archived body, read from its first bytes (never from its name)."""

from __future__ import annotations

import random
import zlib

import pytest

from monitor.archive.filetype import _is_text, detect_type

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(13)
ZIP = b"PK\x03\x04" + bytes(26) + b"a.txt"
ELF = b"\x7fELF\x02\x01\x01" + bytes(9)


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"", "application/x-empty"),
        (b"%PDF-1.7\n" + bytes(range(256)), "application/pdf"),
        (PNG, "image/png"),
        (ZIP, "application/zip"),
        (ELF, "application/x-executable"),
        (b"date,count\n2026-11-25,3\n" * 2000, "text/plain"),
        ("日本語のテキスト\n".encode() * 3000, "text/plain"),
        (zlib.compress(bytes(range(256)) * 100)[2:] + b"\x00\x01", "application/octet-stream"),
    ],
    ids=["empty", "pdf", "png", "zip", "elf", "csv", "cjk", "data"],
)
def test_types_from_the_bytes(head: bytes, mime: str) -> None:
    assert detect_type(head)[0] == mime


def _was_text(head: bytes) -> bool:
    """The earlier definition, character by character."""
    control = set(range(0, 9)) | {11, 12} | set(range(14, 32)) | {127}
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) in control for c in text)


@pytest.mark.parametrize(
    "head",
    [
        b"plain\ttext\r\n",
        b"a NUL \x00 inside",
        b"an escape \x1b[31m",
        b"delete \x7f",
        "cut in a character: é".encode()[:-1],
        "cut in a character: 語".encode()[:-2],
        b"\xff early invalid UTF-8" + b"x" * 10,
        "überall \u2028 separators".encode(),
        b"form feed \x0c and vertical tab \x0b",
    ],
)
def test_text_is_utf8_without_control_characters(head: bytes) -> None:
    assert _is_text(head) == _was_text(head)


def test_text_check_agrees_with_the_earlier_one_on_random_heads() -> None:
    rng = random.Random(20261125)
    alphabet = [b"a", b" ", b"\n", b"\t", b"\r", b"\x00", b"\x1f", b"\x7f", b"\x80", b"\xc3",
                b"\xa9", "語".encode(), "é".encode(), b"\xff", b"\x0b"]  # fmt: skip
    for _ in range(20_000):
        head = b"".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        assert _is_text(head) == _was_text(head), head
