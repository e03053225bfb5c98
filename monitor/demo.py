"""``monitor demo``: a drop folder that keeps receiving files, watched by the daemon and its UI.

:class:`DemoDrop` plays the watched server: each :meth:`~DemoDrop.step` delivers a new batch
(work instructions, that run's results as CSV, a preview image, sometimes a JSON report or a
file with a non-ASCII name) into ``<day>/run-NNN/``, and now and then changes a file of an
earlier run or removes one. It is deterministic for a seed, so tests drive it step by step;
``monitor demo`` calls it on a timer.

:func:`demo_config` writes the workspace's config: one local target polled every few seconds,
batches per run folder, everything archived (so the batch page has previews), and the web UI
on loopback with two reviewers, ``ana`` and ``ben``, whose passwords the command prints
(:func:`demo_passwords`: new ones each time), so one can review a batch and the other see who
did and why.
"""

from __future__ import annotations

import json
import random
import secrets
import struct
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from monitor.web.passwords import hash_password

TARGET = "demo-drop"
#: The demo's two reviewers: one reviews a batch, the other sees who did and why.
REVIEWERS = ("ana", "ben")
_TASKS = (
    "Sort the scans by client and redact account numbers.",
    "Re-run the export with the corrected exchange rates.",
    "Check every image for the watermark before sending.",
    "Merge yesterday's partial results into one sheet.",
    "Translate the summary for the Seoul and Tokyo offices.",
)
_EXTRA_NAMES = ("notes \u2013 結果.txt", "요약 (draft).txt", "summary #2 & appendix.txt")


@dataclass
class DemoDrop:
    """The demo's watched folder; see the module docstring."""

    root: Path
    day: date
    seed: int = 7
    runs: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self.root.mkdir(parents=True, exist_ok=True)

    def step(self) -> str:
        """Deliver the next run; every third step also changes, every fifth also removes, a
        file of an earlier run. Returns what happened, in a line."""
        self.runs += 1
        folder = self.root / self.day.isoformat() / f"run-{self.runs:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        rng = self._rng
        files = {
            "instructions.txt": _instructions(self.runs, rng),
            "results.csv": _results(rng, rows=rng.randint(3, 12)),
            "preview.png": _png(rng),
        }
        if rng.random() < 0.5:
            files["report.json"] = _report(self.runs, rng)
        if self.runs % 4 == 0:
            files[rng.choice(_EXTRA_NAMES)] = b"Draft notes for the reviewer.\n"
        for name, body in files.items():
            (folder / name).write_bytes(body)
        done = [f"run-{self.runs:03d}: {len(files)} files"]
        earlier = self._earlier_files()
        if self.runs % 3 == 0 and earlier:
            changed = rng.choice(earlier)
            with changed.open("ab") as out:
                out.write(b"late,correction,0\n")
            done.append(f"changed {changed.relative_to(self.root).as_posix()}")
        earlier = self._earlier_files()
        if self.runs % 5 == 0 and earlier:
            gone = rng.choice(earlier)
            gone.unlink()
            done.append(f"removed {gone.relative_to(self.root).as_posix()}")
        return "; ".join(done)

    def _earlier_files(self) -> list[Path]:
        current = f"run-{self.runs:03d}"
        return sorted(
            p
            for p in self.root.rglob("*")
            if p.is_file() and p.parent.name != current and p.suffix in {".csv", ".txt"}
        )


def demo_passwords() -> dict[str, str]:
    """A fresh password for each of the demo's two reviewers."""
    return {name: secrets.token_urlsafe(9) for name in REVIEWERS}


def demo_config(
    workspace: Path, *, port: int, every: float, settle: float, passwords: dict[str, str]
) -> str:
    """The workspace's config file text (see the module docstring)."""
    drop = workspace / "drop"
    users = "".join(
        f'[[web.users]]\nname = "{name}"\npassword_hash = "{hash_password(password)}"\n\n'
        for name, password in passwords.items()
    )
    return (
        "# Written by `monitor demo`: one local folder, polled every few seconds.\n"
        f"data_dir = {json.dumps(str(workspace / 'data'))}\n\n"
        "[web]\n"
        'bind = "127.0.0.1"\n'
        f"port = {port}\n\n"
        f"{users}"
        "[[target]]\n"
        f'name = "{TARGET}"\n'
        'kind = "local"\n'
        f"path = {json.dumps(str(drop))}\n"
        f'every = "{every:g}s"\n'
        'jitter = "0s"\n'
        f'settle = "{settle:g}s"\n'
        "batch_depth = 2\n\n"
        "[target.archive]\n"
        "enabled = true\n"
    )


def _instructions(run: int, rng: random.Random) -> bytes:
    task = rng.choice(_TASKS)
    return f"Run {run}\n\n{task}\nReply in this folder when done.\n".encode()


def _results(rng: random.Random, *, rows: int) -> bytes:
    lines = ["item,status,amount"]
    lines += [
        f"{rng.randint(1000, 9999)},{rng.choice(['ok', 'ok', 'retry', 'failed'])},"
        f"{rng.randint(1, 5000)}"
        for _ in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _report(run: int, rng: random.Random) -> bytes:
    report = {"run": run, "processed": rng.randint(10, 500), "errors": rng.randint(0, 5)}
    return json.dumps(report, indent=2).encode() + b"\n"


def _png(rng: random.Random, width: int = 96, height: int = 48) -> bytes:
    """A small valid PNG: coloured bars, different for each run."""
    colours = [bytes(rng.randrange(40, 256) for _ in range(3)) for _ in range(6)]
    bar = width // len(colours)
    row = b"".join(colours[min(x // bar, len(colours) - 1)] for x in range(width))
    raw = b"".join(b"\x00" + row for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
