"""Benchmark of the archive (issue 5) against curl fetching the same files, on loopback nginx.

The contract: archiving on loopback at >= 0.8x the throughput of curl fetching the same files
in the same run; memory flat in file size (a 2 GiB file streams).

Cases (random bytes, so no two files share a hash; nginx from ``serve_nginx.sh``, sendfile):

- ``small``: 2,000 files of 64 KiB in 20 folders;
- ``text``: the same as text (lines of hex), as drops of logs and CSV are: type detection
  reads the head of a text file through;
- ``large``: 4 files of 256 MiB;
- ``huge``: 1 file of 2 GiB;
- ``local``: the 2 GiB file of ``huge`` as a local target (memory; ``cp`` as the reference).

For each case, ``--times`` rounds (median), each round in this order, ``sync`` between runs
(untimed, so one run's dirty pages do not slow the next). Every run writes into a new folder
under ``work/runs``, removed only when the case is done: ext4 skips inodes freed in the last
minutes when it allocates new ones (``recently_deleted``), so removing 2,000 files just
before a run made that run's file creations cost up to 1 ms of kernel time each (curl's
and the archive's alike, whichever came next):

1. ``curl -s -Z --parallel-max N -K LIST`` writing every file to a fresh folder (N: the
   target's ``concurrency``, 8) — the reference; and ``curl`` to ``/dev/null`` (the network
   floor) for context;
2. ``monitor poll bench --format json`` on a fresh database and data folder, archiving on
   (``rate`` high, so only ``concurrency`` paces it): the archive phase's own seconds come
   from the poll's JSON (``archive.seconds``, the wall time of the archive run inside the
   process: listing and snapshot excluded);
3. ``monitor poll bench --no-archive`` on a fresh database: the poll without the archive, so
   "whole process with archive minus whole process without" is shown too.

Throughput is bytes of file bodies / seconds. The archive writes each body to a temporary
file, renames it into place and makes it durable (one ``syncfs`` per batch) before the
database names it; curl does not sync, so ``curl + sync`` (curl, then ``sync``, timed
together) is shown as well.
Peak RSS is GNU time's ``%M`` of each process (see ``engine.run``).

Run from the repository root, as root (nginx runs as root in serve_nginx.sh)::

    python bench/archive.py                        # every case, 3 rounds
    python bench/archive.py --cases small,large --times 1 --work /var/tmp/archbench
    python bench/archive.py --profile large        # cProfile of one archive run, top 25
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import GNU_TIME, Run, free_port, git_state, log, machine, monitor_exe, run

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[1] / "shared" / "bench"
KiB, MiB, GiB = 1024, 1024**2, 1024**3
CONCURRENCY = 8
RATIO = 0.8
#: (name, files, size of each, folders)
CASES: dict[str, tuple[int, int, int]] = {
    "small": (2000, 64 * KiB, 20),
    "text": (2000, 64 * KiB, 20),
    "large": (4, 256 * MiB, 1),
    "huge": (1, 2 * GiB, 1),
}


@dataclass
class Tree:
    name: str
    root: Path
    paths: list[str]
    bytes: int


def _text(size: int) -> bytes:
    """``size`` bytes of text (lines of random hex), no two files alike."""
    hexed = os.urandom(size // 2 + 1).hex().encode()[:size]
    return b"\n".join(hexed[i : i + 79] for i in range(0, size, 80))[:size]


def make_tree(work: Path, name: str) -> Tree:
    """The case's files under ``work/trees/name`` (kept between runs of the script)."""
    count, size, folders = CASES[name]
    root = work / "trees" / name
    suffix = ".txt" if name == "text" else ".bin"
    paths = [
        f"f{i % folders:03d}/file-{i:05d}{suffix}" if folders > 1 else f"file-{i:05d}{suffix}"
        for i in range(count)
    ]
    done = root.with_name(name + ".complete")
    if not done.exists():
        log(f"making {name}: {count} x {size // KiB} KiB")
        shutil.rmtree(root, ignore_errors=True)
        for rel in paths:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                left = size
                while left:
                    chunk = min(left, 16 * MiB)
                    f.write(_text(chunk) if name == "text" else os.urandom(chunk))
                    left -= chunk
        done.write_text("ok")
    return Tree(name, root, paths, count * size)


def nginx_start(shared: Path, env: dict[str, str], root: Path, port: int) -> str:
    script = ["bash", str(shared / "serve_nginx.sh")]
    argv = [*script, "start", str(root), str(port), "--name", f"archive-{port}"]
    subprocess.run(argv, check=True, env=env, capture_output=True, timeout=60)
    return f"http://127.0.0.1:{port}/"


def nginx_stop(shared: Path, env: dict[str, str], port: int) -> None:
    script = ["bash", str(shared / "serve_nginx.sh")]
    subprocess.run(
        [*script, "stop", str(port), "--name", f"archive-{port}"],
        env=env,
        capture_output=True,
        timeout=60,
    )


def write_config(path: Path, work: Path, target: str) -> None:
    path.write_text(
        f"database = {json.dumps('sqlite:///' + str(work / 'monitor.db'))}\n"
        f"data_dir = {json.dumps(str(work / 'data'))}\n\n"
        f'[[target]]\nname = "bench"\n{target}\n'
        '[target.archive]\nenabled = true\nmax_file_size = "4GiB"\n'
        'max_bytes_per_poll = "100GiB"\n',
        encoding="utf-8",
    )


def http_target(url: str) -> str:
    return (
        f'kind = "http"\nurl = "{url}"\nconcurrency = {CONCURRENCY}\nrate = 100000\nretries = 0\n'
    )


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.sync()
    return folder


class Runs:
    """A new folder for each run under ``work/runs``, all removed at the end of the case."""

    def __init__(self, work: Path) -> None:
        self.root = work / "runs"
        self.count = 0
        shutil.rmtree(self.root, ignore_errors=True)

    def new(self, kind: str) -> Path:
        self.count += 1
        return fresh(self.root / f"{self.count:03d}-{kind}")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def curl_list(path: Path, base: str, tree: Tree, out: Path | None) -> Path:
    lines = []
    for i, rel in enumerate(tree.paths):
        lines.append(f'url = "{base}{rel}"')
        lines.append(f'output = "{out / f"{i:05d}" if out else "/dev/null"}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def curl(list_file: Path) -> Run:
    argv = ["curl", "-s", "-S", "-f", "-Z", "--parallel-max", str(CONCURRENCY), "-K"]
    return run([*argv, str(list_file)], stdout="devnull")


def curl_sync(list_file: Path) -> tuple[float, Run]:
    t0 = time.perf_counter()
    r = curl(list_file)
    os.sync()
    return time.perf_counter() - t0, r


@dataclass
class Round:
    curl_s: float
    curl_sync_s: float
    curl_null_s: float
    curl_rss: int
    archive_s: float
    sync_s: float
    monitor_cpu_s: float
    curl_cpu_s: float
    poll_s: float
    noarchive_s: float
    monitor_rss: int
    noarchive_rss: int
    archived: int
    bytes: int


def monitor_round(exe: str, work: Path, target: str, tree: Tree) -> tuple[Run, dict[str, Any]]:
    fresh(work)
    config = work / "monitor.toml"
    write_config(config, work, target)
    r = run([exe, "--config", str(config), "poll", "bench", "--format", "json"])
    row = json.loads(r.stdout)[0]
    archive = row.get("archive") or {}
    if archive.get("archived") != len(tree.paths) or archive.get("bytes") != tree.bytes:
        raise RuntimeError(f"{tree.name}: archived {archive} of {len(tree.paths)} files")
    return r, archive


def noarchive_round(exe: str, work: Path, target: str) -> Run:
    fresh(work)
    config = work / "monitor.toml"
    write_config(config, work, target)
    return run([exe, "--config", str(config), "poll", "bench", "--no-archive", "-f", "json"])


def bench_http(exe: str, tree: Tree, base: str, work: Path, times: int) -> dict[str, Any]:
    target = http_target(base)
    rounds: list[Round] = []
    runs = Runs(work)
    for n in range(times):
        c = curl(curl_list(work / "curl-files.cfg", base, tree, runs.new("curl")))
        cs, _ = curl_sync(curl_list(work / "curl-files.cfg", base, tree, runs.new("curl-sync")))
        null = curl(curl_list(work / "curl-null.cfg", base, tree, None))
        m, archive = monitor_round(exe, runs.new("monitor"), target, tree)
        plain = noarchive_round(exe, runs.new("monitor-plain"), target)
        rounds.append(
            Round(
                c.seconds, cs, null.seconds, c.max_rss_bytes, float(archive["seconds"]),
                float(archive["sync_seconds"]), m.cpu_seconds, c.cpu_seconds,
                m.seconds, plain.seconds, m.max_rss_bytes, plain.max_rss_bytes,
                int(archive["archived"]), int(archive["bytes"]),
            )
        )  # fmt: skip
        log(
            f"{tree.name} round {n + 1}: curl {c.seconds:.2f} s (+sync {cs:.2f} s, /dev/null "
            f"{null.seconds:.2f} s; cpu {c.cpu_seconds:.2f} s); archive {archive['seconds']:.2f} s "
            f"(waiting for sync {archive['sync_seconds']:.2f} s; poll {m.seconds:.2f} s, cpu "
            f"{m.cpu_seconds:.2f} s, without archive {plain.seconds:.2f} s); "
            f"RSS {m.max_rss_bytes / MiB:.0f} MiB"
        )
    runs.remove()
    return summarise(tree, rounds)


def bench_local(exe: str, tree: Tree, work: Path, times: int) -> dict[str, Any]:
    """The 2 GiB file as a local target: memory, and ``cp`` as the reference."""
    target = f'kind = "local"\npath = "{tree.root}"\n'
    rounds: list[Round] = []
    runs = Runs(work)
    for _ in range(times):
        out = runs.new("cp")
        c = run(["cp", str(tree.root / tree.paths[0]), str(out / "copy")], stdout="devnull")
        m, archive = monitor_round(exe, runs.new("monitor"), target, tree)
        plain = noarchive_round(exe, runs.new("monitor-plain"), target)
        rounds.append(
            Round(
                c.seconds, c.seconds, c.seconds, c.max_rss_bytes, float(archive["seconds"]),
                float(archive["sync_seconds"]), m.cpu_seconds, c.cpu_seconds,
                m.seconds, plain.seconds, m.max_rss_bytes, plain.max_rss_bytes,
                int(archive["archived"]), int(archive["bytes"]),
            )
        )  # fmt: skip
    runs.remove()
    return summarise(tree, rounds)


def summarise(tree: Tree, rounds: list[Round]) -> dict[str, Any]:
    def med(key: str) -> float:
        return float(statistics.median(getattr(r, key) for r in rounds))

    mb = tree.bytes / MiB
    archive_s, curl_s = med("archive_s"), med("curl_s")
    process_s = med("poll_s") - med("noarchive_s")
    return {
        "files": len(tree.paths),
        "bytes": tree.bytes,
        "rounds": [r.__dict__ for r in rounds],
        "curl_MiBps": mb / curl_s,
        "curl_sync_MiBps": mb / med("curl_sync_s"),
        "curl_null_MiBps": mb / med("curl_null_s"),
        "archive_MiBps": mb / archive_s,
        "archive_process_MiBps": mb / process_s if process_s > 0 else None,
        "ratio": curl_s / archive_s,
        "archive_s": archive_s,
        "curl_s": curl_s,
        "sync_s": med("sync_s"),
        "monitor_cpu_s": med("monitor_cpu_s"),
        "curl_cpu_s": med("curl_cpu_s"),
        "ratio_vs_curl_sync": med("curl_sync_s") / archive_s,
        "monitor_rss_bytes": max(r.monitor_rss for r in rounds),
        "noarchive_rss_bytes": max(r.noarchive_rss for r in rounds),
        "curl_rss_bytes": max(r.curl_rss for r in rounds),
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| case | files | curl (to files) | curl + sync | curl /dev/null | archive | "
        f"archive / curl (>= {RATIO}) | archive / (curl + sync) | archive, whole process | "
        "peak RSS poll+archive | peak RSS poll only |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results["cases"].items():
        reference = "cp" if name == "local" else "curl"
        ok = "yes" if r["ratio"] >= RATIO else "**no**"
        whole = r["archive_process_MiBps"]
        lines.append(
            f"| {name} | {r['files']:,} x {r['bytes'] // r['files'] // KiB:,} KiB | "
            f"{r['curl_MiBps']:.0f} MiB/s{' (cp)' if reference == 'cp' else ''} | "
            f"{r['curl_sync_MiBps']:.0f} MiB/s | {r['curl_null_MiBps']:.0f} MiB/s | "
            f"{r['archive_MiBps']:.0f} MiB/s | {r['ratio']:.2f} ({ok}) | "
            f"{r['ratio_vs_curl_sync']:.2f} | "
            f"{f'{whole:.0f} MiB/s' if whole else '-'} | "
            f"{r['monitor_rss_bytes'] / MiB:.0f} MiB | {r['noarchive_rss_bytes'] / MiB:.0f} MiB |"
        )
    return "\n".join(lines)


def profile(exe: str, tree: Tree, base: str, work: Path) -> None:
    """One archive run under cProfile (the poll first, --no-archive), top 25 by cumulative."""
    target = http_target(base)
    fresh(work / "monitor")
    config = work / "monitor" / "monitor.toml"
    write_config(config, work / "monitor", target)
    run([exe, "--config", str(config), "poll", "bench", "--no-archive", "-f", "json"])
    script = (
        "import asyncio, cProfile, pstats, sys\n"
        "from monitor.config import load_settings\n"
        "from monitor.store import open_store\n"
        "from monitor.archive.archiver import archive_target\n"
        "from monitor.archive.blobs import open_blob_store\n"
        "from pathlib import Path\n"
        f"s = load_settings(Path({str(config)!r}))\n"
        "st = open_store(s.database_url)\n"
        "t = s.targets[0]\n"
        "p = cProfile.Profile(); p.enable()\n"
        "r = asyncio.run(archive_target(st, s, t, open_blob_store(s)))\n"
        "p.disable(); print(r.summary(), r.seconds)\n"
        "pstats.Stats(p).sort_stats('tottime').print_stats(25)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    print(done.stdout[-12000:], done.stderr[-3000:])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="small,text,large,huge,local")
    p.add_argument("--times", type=int, default=3)
    p.add_argument("--work", type=Path, default=Path("/var/tmp/archive-bench"))
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--profile", default=None, help="profile one archive run of this case")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    exe = monitor_exe()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "BENCH_RUN": str(work / "run")}
    cases = [args.profile] if args.profile else [c for c in args.cases.split(",") if c]
    results: dict[str, Any] = {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {**machine(), "gnu_time_for_rss": GNU_TIME is not None},
        "concurrency": CONCURRENCY,
        "cases": {},
    }
    for name in cases:
        tree = make_tree(work, "huge" if name == "local" else name)
        if name == "local":
            results["cases"][name] = bench_local(exe, tree, work, args.times)
            continue
        port = free_port(19060)
        base = nginx_start(args.shared, env, tree.root, port)
        try:
            if args.profile == name:
                profile(exe, tree, base, work)
                continue
            results["cases"][name] = bench_http(exe, tree, base, work, args.times)
        finally:
            nginx_stop(args.shared, env, port)
    if results["cases"]:
        print(markdown(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    failed = [n for n, r in results["cases"].items() if r["ratio"] < RATIO]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
