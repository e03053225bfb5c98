"""Password and API token hashes, with the standard library only.

A password hash is ``scrypt$n=32768,r=8,p=1$<salt>$<hash>`` (salt and hash in unpadded
base64): it names its own parameters, so stronger ones can be chosen later without breaking
the hashes already in a config. An API token is random and long, so a plain
``sha256$<hex>`` of it is enough (and cheap to check on every request). Every comparison is
constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import cache

#: What ``monitor web-password`` uses: 32 MiB of memory and tens of milliseconds per check.
DEFAULT_N = 2**15
DEFAULT_R = 8
DEFAULT_P = 1
#: Bounds a config's hash must keep to: weaker is unsafe, stronger would stall each login.
MIN_N, MAX_N = 2**14, 2**20
MAX_MEMORY = 256 * 2**20
SALT_BYTES = 16
HASH_BYTES = 32
TOKEN_PREFIX = "mon_"

_SCRYPT = re.compile(r"scrypt\$n=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})")
_SHA256 = re.compile(r"sha256\$([0-9a-f]{64})")
_SCRYPT_HINT = "expected a hash made by `monitor web-password` (scrypt$n=...,r=...,p=...$...$...)"


@dataclass(frozen=True)
class ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def compute(self, password: str) -> bytes:
        return _scrypt(password, self.salt, self.n, self.r, self.p, len(self.digest))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=MAX_MEMORY + 2**20,
        dklen=length,
    )


def parse_password_hash(text: str) -> ScryptHash:
    """The parts of a password hash; ValueError naming what is wrong (never the hash)."""
    match = _SCRYPT.fullmatch(text.strip())
    if match is None:
        raise ValueError(_SCRYPT_HINT)
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if n < MIN_N or n > MAX_N or n & (n - 1):
        raise ValueError(f"scrypt n must be a power of two from {MIN_N} to {MAX_N}, got {n}")
    if not 1 <= r <= 32 or not 1 <= p <= 16 or 128 * n * r > MAX_MEMORY:
        raise ValueError(f"scrypt r={r}, p={p} are out of bounds (r 1-32, p 1-16, 256 MiB)")
    try:
        salt, digest = _unb64(match.group(4)), _unb64(match.group(5))
    except binascii.Error as exc:
        raise ValueError(f"{_SCRYPT_HINT}: bad base64") from exc
    if len(salt) < SALT_BYTES or not HASH_BYTES <= len(digest) <= 64:
        raise ValueError(f"{_SCRYPT_HINT}: its salt or hash is too short (cut when pasted?)")
    return ScryptHash(n, r, p, salt, digest)


def check_password_hash(text: str) -> str:
    parse_password_hash(text)
    return text.strip()


def check_token_hash(text: str) -> str:
    if not _SHA256.fullmatch(text.strip()):
        raise ValueError("expected a hash made by `monitor web-password --token` (sha256$<hex>)")
    return text.strip()


def hash_password(
    password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P
) -> str:
    """A new hash of ``password`` with a random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n, r, p, HASH_BYTES)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the hash ``stored`` (constant-time)."""
    parsed = parse_password_hash(stored)
    return hmac.compare_digest(parsed.compute(password), parsed.digest)


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(16))


def burn_password_check(password: str) -> None:
    """As much work as checking a password, for an unknown user: the answer takes as long."""
    verify_password(password, _dummy_hash())


def new_token() -> str:
    """A new random API token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return "sha256$" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored: str) -> bool:
    return hmac.compare_digest(hash_token(token).encode(), stored.encode())
