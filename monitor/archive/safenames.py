"""Local names for server paths: safe to extract on Linux, macOS and Windows, and unique.

A server path is hostile data. :class:`SafeNames` turns each one into a relative,
``/``-separated name that:

- is never absolute and has no ``..``, ``.`` or empty segment;
- holds no NUL, control, bidi-override or zero-width character, and none of ``<>:"|?*\\``
  (undecodable bytes and control characters become ``%XX``, the others ``_``);
- has no Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, CONIN$, CONOUT$, with or
  without an extension) and no segment starting with a space or ending in a dot or a space;
- has no segment ending in ``;`` and digits, which Info-ZIP's ``unzip`` cuts off as a VMS
  version (``report.txt;1`` would land on ``report.txt``): that ``;`` becomes ``_``;
- keeps each segment within :data:`MAX_SEGMENT_BYTES` of UTF-8, cutting the stem and adding
  ``~`` and a short hash of the original segment when it must;
- is unique among the names given out, ignoring case and Unicode normalisation (Windows and
  macOS file systems would merge them), and never both a file and a folder: a name taken
  already gets ``~`` and a short hash of the server path.

Every file of one server folder lands in one local folder. The server path is kept beside
the name (in the manifest), so nothing is lost by the cleaning.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

MAX_SEGMENT_BYTES = 120
#: An extension longer than this is cut with the stem.
MAX_SUFFIX_CHARS = 16
_HASH_CHARS = 8

_DEVICE = re.compile(r"^(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[0-9¹²³])$", re.IGNORECASE)
_ESCAPED = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)
_REPLACED = re.compile(r'[<>:"|?*\\/]')
_VMS_VERSION = re.compile(r";([0-9]*)\Z")


def short_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return digest[:_HASH_CHARS]


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
        return f"%{code - 0xDC00:02X}"
    if code < 0x100:
        return f"%{code:02X}"
    return "_"


def clean_segment(segment: str) -> str:
    """One path segment made safe, before any length cap or uniqueness suffix."""
    text = unicodedata.normalize("NFC", segment)
    text = _ESCAPED.sub(_escape, text)
    text = _REPLACED.sub("_", text)
    text = text.strip(" ").rstrip(" .")
    text = _VMS_VERSION.sub(r"_\1", text)
    if not text:
        return "_"
    stem = text.split(".", 1)[0].rstrip(" ")
    if _DEVICE.match(stem):
        text = "_" + text
    return text


def _split_suffix(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot > MAX_SUFFIX_CHARS:
        return name, ""
    return name[:dot], name[dot:]


def _cut_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def with_tag(name: str, tag: str) -> str:
    """``name`` with ``~tag`` before its extension, cut to fit :data:`MAX_SEGMENT_BYTES`."""
    stem, suffix = _split_suffix(name)
    room = MAX_SEGMENT_BYTES - len(f"~{tag}{suffix}".encode())
    stem = _cut_utf8(stem, room).rstrip(" .")
    return f"{stem or '_'}~{tag}{suffix}"


def fit_segment(segment: str) -> str:
    """The cleaned segment, cut with a hash tag when it is longer than the cap."""
    name = clean_segment(segment)
    if len(name.encode("utf-8")) <= MAX_SEGMENT_BYTES:
        return name
    return with_tag(name, short_hash(segment))


def _key(name: str) -> str:
    """What a case-insensitive, normalising file system sees as the same name."""
    return unicodedata.normalize("NFC", name).casefold()


def server_segments(path: str) -> list[str]:
    """The path's segments, without empty and ``.`` ones (a leading ``/`` is just empty)."""
    return [s for s in path.split("/") if s not in ("", ".")]


@dataclass
class _Folder:
    """Names taken in one local folder: key -> server path that took it."""

    taken: dict[str, str] = field(default_factory=dict)

    def claim(self, name: str, owner: str) -> str:
        """``name``, or a tagged variant when another owner holds it; recorded as taken."""
        candidate = name
        if _key(candidate) in self.taken and self.taken[_key(candidate)] != owner:
            candidate = with_tag(name, short_hash(owner))
            count = 2
            while _key(candidate) in self.taken:  # a hash collision: practically never
                candidate = with_tag(name, f"{short_hash(owner)}{count}")
                count += 1
        self.taken[_key(candidate)] = owner
        return candidate


@dataclass
class SafeNames:
    """Gives each server path a safe, unique local name; ask in any order, ask again freely."""

    _folders: dict[str, _Folder] = field(default_factory=dict)
    #: Server folder (normalised segments joined by "/") -> its local name.
    _dirs: dict[str, str] = field(default_factory=dict)
    _files: dict[str, str] = field(default_factory=dict)

    def name_for(self, path: str) -> str:
        """The local name of the file at server ``path``."""
        if path in self._files:
            return self._files[path]
        segments = server_segments(path) or ["_"]
        parent = ""
        for depth in range(1, len(segments)):
            parent = self._folder_name(segments[:depth], parent)
        name = self._folder(parent).claim(fit_segment(segments[-1]), "f:" + path)
        local = f"{parent}/{name}" if parent else name
        self._files[path] = local
        return local

    def _folder_name(self, segments: list[str], parent: str) -> str:
        server = "/".join(segments)
        known = self._dirs.get(server)
        if known is None:
            name = self._folder(parent).claim(fit_segment(segments[-1]), "d:" + server)
            known = f"{parent}/{name}" if parent else name
            self._dirs[server] = known
        return known

    def _folder(self, local: str) -> _Folder:
        return self._folders.setdefault(local, _Folder())
