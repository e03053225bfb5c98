"""The README.txt of an evidence package: what it is, how to check it, what is missing."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from monitor import __version__
from monitor.output import display_name, human_size, iso

if TYPE_CHECKING:
    from monitor.archive.export import ExportFile, Selection

#: Missing files named in the README; the manifest and the listing name them all.
MAX_MISSING_LINES = 200


def readme(selection: Selection, *, now: datetime, zone: ZoneInfo) -> str:
    archived = selection.archived
    missing = [f for f in selection.files if not f.archived]
    size = sum(f.blob.size for f in archived if f.blob)
    title = f"Evidence package: {selection.title}"
    lines = [
        title,
        "=" * len(title),
        "",
        f"Made by filedrop-monitor {__version__} on {iso(now, zone)}.",
        f"Target: {selection.target} ({selection.target_kind}) {selection.target_url}",
        f"Files: {len(selection.files)} listed, {len(archived)} archived "
        f"({human_size(size)}), {len(missing)} missing.",
        "",
        "What is in it",
        "-------------",
        "files/         the archived files, under names made safe for any file system from",
        "               their server paths (manifest.json gives each one's server path)",
        "manifest.json  the package, and every file: server path, name, size, SHA-256, the type",
        "               detected from its bytes, and how it was fetched (URL, time, HTTP status,",
        "               response headers, server IP address, TLS certificate fingerprint)",
        "listing.csv    every file as the server listed it, archived or not",
        "SHA256SUMS     the SHA-256 of every file above and of this README",
        "",
        "How to check it",
        "---------------",
        "In the folder where the zip was extracted:",
        "  Linux:    sha256sum -c SHA256SUMS",
        "  macOS:    shasum -a 256 -c SHA256SUMS",
        "  Windows:  Get-FileHash -Algorithm SHA256 <file>, compared with SHA256SUMS",
        "Every line must say OK. The SHA-256 of each file under files/ is the one computed when",
        'it was downloaded from the server (manifest.json, "sha256"): a file that checks is',
        "byte for byte what the server sent.",
        "",
        *_missing_section(selection, missing),
        "",
        f"Times are in {zone}; the dates of zip entries are the servers' modification times (UTC).",
        "The files are data from a watched server: open them with care, in a safe viewer.",
        "",
    ]
    return "\n".join(lines)


def _missing_section(selection: Selection, missing: list[ExportFile]) -> list[str]:
    if not missing:
        return ["Missing files", "-------------", "None: every file listed was archived."]
    heading = f"Missing files ({len(missing)} of {len(selection.files)})"
    lines = [
        heading,
        "-" * len(heading),
        "Listed by the server but not in files/ (manifest.json and listing.csv have them all):",
    ]
    for item in missing[:MAX_MISSING_LINES]:
        lines.append(f"  {display_name(item.version.path)}: {display_name(item.missing or '')}")
    if len(missing) > MAX_MISSING_LINES:
        lines.append(f"  ... and {len(missing) - MAX_MISSING_LINES} more")
    return lines
