"""Benchmark of the engine on a local folder target, against the contract of the engine issue.

On a tree made by ``gen_tree.py`` (100,000 files, 2,000 folders), for SQLite and PostgreSQL:

- first poll <= 5 s; unchanged re-poll <= 2 s (median of 3); re-poll after one ``--evolve``
  day <= 2.5 s; diff between two snapshots <= 1 s;
- 30 unchanged re-polls grow the database by <= 64 KiB in total;
- peak RSS of a poll <= 200 MB (10^6 bytes, as the project's config sizes count them).

Every figure comes from the real CLI run as a subprocess (``monitor --config CFG ...``): wall
time from ``time.perf_counter`` around the process, peak RSS from ``os.wait4``'s rusage of that
one process. The diffs are checked against the change set ``gen_tree.py --evolve`` writes.
Reference tools list the same tree in the same run: ``find -printf`` (the floor) and
``rclone lsjson -R``.

Run from the repository root (stdlib and the project only)::

    python bench/engine.py                                  # 100k files, both backends
    python bench/engine.py --files 10000 --dirs 200 --backend sqlite --out /tmp/r.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "bench"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
MB = 1_000_000
STALL_WARN_S = 0.5
#: GNU time, for the peak RSS of each process (see :func:`run`); Debian's package "time".
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

#: (key in the results, label, limit, unit) — the contract of the engine issue.
CONTRACT: list[tuple[str, str, float, str]] = [
    ("first_poll_s", "first poll", 5.0, "s"),
    ("repoll_s", "unchanged re-poll (median of 3)", 2.0, "s"),
    ("evolved_poll_s", "re-poll after one evolve day", 2.5, "s"),
    ("diff_max_s", "diff between two snapshots (slowest of 4)", 1.0, "s"),
    ("growth_bytes", "DB growth over 30 unchanged re-polls", 64 * 1024, "bytes"),
    ("peak_rss_bytes", "peak RSS of a poll", 200 * MB, "bytes"),
]


# -- running one process ------------------------------------------------------------------------


@dataclass
class Run:
    """One finished process: its wall time, peak RSS and output."""

    argv: list[str]
    seconds: float
    max_rss_bytes: int
    returncode: int
    #: user + system CPU time of the process: less sensitive than wall time to a busy machine.
    cpu_seconds: float
    #: Seconds in which the whole machine had tasks stalled on memory during the run
    #: (/proc/pressure/memory "some"); well above zero means the figure was disturbed.
    memory_stall_s: float
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)


def run(
    argv: Sequence[str],
    *,
    stdout: str = "capture",
    check: bool = True,
    prefix: Sequence[str] = (),
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``argv`` and measure it; ``stdout`` is "capture", "devnull" or a file path.

    Output goes to files, not pipes, so a child that prints megabytes never blocks while we
    wait for it. Wall time is ``perf_counter`` around the process; CPU time comes from
    ``os.wait4``. Peak RSS comes from GNU time's ``%M`` when ``/usr/bin/time`` exists: the
    ``ru_maxrss`` that ``wait4`` reports for a child is at least the RSS of the process that
    spawned it (Linux keeps the high-water mark of the pre-exec image), so from this script it
    would read this script's own size for any child smaller than it. ``prefix`` goes before
    GNU time (``ip netns exec NS``), so ``%M`` is still the program's own. The child gets its
    own session; past ``timeout`` seconds that group is killed.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".rss") as rss,
    ):
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if GNU_TIME else list(argv)
        wrapped = [*prefix, *wrapped]
        sink: BinaryIO | int
        if stdout == "capture":
            sink = out
        elif stdout == "devnull":
            sink = subprocess.DEVNULL
        else:
            sink = open(stdout, "wb")
        stall0 = memory_stall_us()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            wrapped,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=err,
            start_new_session=True,
            env=env,
        )
        killed: list[bool] = []

        def kill() -> None:
            killed.append(True)
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this call started, by its id
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # a signal or ^C while waiting: leave no child running
            kill()
            os.waitpid(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
            raise
        finally:
            if timer:
                timer.cancel()
        seconds = time.perf_counter() - t0
        stall = (memory_stall_us() - stall0) / 1e6
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sink not in (out, subprocess.DEVNULL):
            sink.close()  # type: ignore[union-attr]
        out.seek(0)
        err.seek(0)
        lines = rss.read().split()
        result = Run(
            list(argv),
            seconds,
            # GNU time's %M and ru_maxrss are both in KiB on Linux
            int(lines[-1]) * 1024
            if GNU_TIME and lines and lines[-1].isdigit()
            else usage.ru_maxrss * 1024,
            proc.returncode,
            usage.ru_utime + usage.ru_stime,
            stall,
            out.read().decode("utf-8", "surrogateescape"),
            err.read().decode("utf-8", "surrogateescape"),
        )
    if killed:
        raise RuntimeError(f"{' '.join(argv)} killed after {timeout:.0f} s")
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def memory_stall_us() -> int:
    """Total microseconds some task of the machine waited on memory (0 without PSI)."""
    try:
        with open("/proc/pressure/memory", encoding="ascii") as f:
            first = f.readline()
    except OSError:
        return 0
    return int(first.rsplit("total=", 1)[1])


def median_run(argv: Sequence[str], times: int, **kw: Any) -> dict[str, Any]:
    runs = [run(argv, **kw) for _ in range(times)]
    return {
        "median_s": statistics.median(r.seconds for r in runs),
        "runs_s": [round(r.seconds, 4) for r in runs],
        "cpu_median_s": statistics.median(r.cpu_seconds for r in runs),
        "memory_stall_s": sum(r.memory_stall_s for r in runs),
        "max_rss_bytes": max(r.max_rss_bytes for r in runs),
    }


# -- the tree and its ground truth --------------------------------------------------------------


def generate_tree(shared: Path, root: Path, args: argparse.Namespace) -> float:
    if root.exists():
        shutil.rmtree(root)
    meta = root.parent / (root.name + ".meta.json")
    meta.unlink(missing_ok=True)
    argv = [sys.executable, str(shared / "gen_tree.py"), str(root), "--dirs", str(args.dirs)]
    argv += ["--files", str(args.files), "--depth", "3", "--seed", str(args.seed)]
    return run(argv).seconds


def evolve_tree(shared: Path, root: Path, day: int, changes: Path) -> float:
    argv = [sys.executable, str(shared / "gen_tree.py"), str(root), "--evolve", str(day)]
    return run([*argv, "--changes", str(changes)]).seconds


def tree_truth(root: Path) -> dict[str, Any]:
    """Files, folders and bytes of the tree, walked here (not timed)."""
    files = total = 0
    dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            dirs.add(d if rel == "." else f"{rel}/{d}")
        for name in filenames:
            files += 1
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return {"files": files, "dirs": len(dirs), "bytes": total, "dir_set": dirs}


# -- the project's CLI --------------------------------------------------------------------------


def monitor_exe() -> str:
    beside = Path(sys.executable).with_name("monitor")
    found = str(beside) if beside.exists() else shutil.which("monitor")
    if not found:
        sys.exit("the 'monitor' command is not installed: run 'pip install -e .' first")
    return found


@dataclass
class Cli:
    exe: str
    config: Path

    def __call__(self, *args: str) -> Run:
        return run([self.exe, "--config", str(self.config), *args])

    def poll(self) -> tuple[Run, dict[str, Any]]:
        r = self("poll", "bench", "--format", "json")
        return r, json.loads(r.stdout)[0]

    def diff(self, a: int, b: int) -> tuple[Run, dict[str, Any]]:
        r = self("diff", "bench", "--from-snapshot", str(a), "--to-snapshot", str(b), "-f", "json")
        return r, json.loads(r.stdout)


def write_config(path: Path, *, database: str, data_dir: Path, root: Path) -> None:
    text = (
        f"database = {json.dumps(database)}\n"
        f"data_dir = {json.dumps(str(data_dir))}\n\n"
        "[[target]]\n"
        'name = "bench"\n'
        'kind = "local"\n'
        f"path = {json.dumps(str(root))}\n"
    )
    path.write_text(text, encoding="utf-8")


# -- databases ----------------------------------------------------------------------------------


class SqliteDb:
    """A SQLite file in the work folder; its size is measured after a WAL checkpoint."""

    name = "sqlite"

    def __init__(self, work: Path) -> None:
        self.path = work / "sqlite" / "monitor.db"
        self.url = f"sqlite:///{self.path}"

    def create(self, cli: Cli) -> None:
        """SQLite creates and upgrades its schema on open."""

    def size(self) -> dict[str, int]:
        wal = self.path.with_name(self.path.name + "-wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        conn = sqlite3.connect(self.path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        finally:
            conn.close()
        return {
            "bytes": self.path.stat().st_size,
            "wal_bytes_before_checkpoint": wal_bytes,
            "pages": pages,
            "free_pages": free,
            "page_size": page_size,
        }

    def drop(self) -> None:
        """The file goes with the work folder."""

    def server(self) -> str:
        return f"SQLite {sqlite3.sqlite_version} (python module)"


class PostgresDb:
    """A database ``bench_<pid>`` created for the run and dropped at its end."""

    name = "postgresql"

    def __init__(self, base_url: str) -> None:
        self.dbname = f"bench_{os.getpid()}"
        self.url = base_url.rstrip("/") + "/" + self.dbname
        self.admin_dsn = base_url.replace("+psycopg", "").rstrip("/") + "/postgres"
        self.dsn = self.url.replace("+psycopg", "")

    def _execute(self, dsn: str, sql: str) -> Any:
        import psycopg  # the project's [postgres] extra

        with psycopg.connect(dsn, autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchone() if cur.description else None

    def create(self, cli: Cli) -> None:
        self._execute(self.admin_dsn, f'DROP DATABASE IF EXISTS "{self.dbname}"')
        self._execute(self.admin_dsn, f'CREATE DATABASE "{self.dbname}"')
        cli("db", "upgrade")

    def size(self) -> dict[str, int]:
        row = self._execute(
            self.dsn,
            "SELECT pg_database_size(current_database()), "
            "pg_total_relation_size('version'), pg_total_relation_size('snapshot')",
        )
        return {"bytes": row[0], "version_table_bytes": row[1], "snapshot_table_bytes": row[2]}

    def drop(self) -> None:
        self._execute(self.admin_dsn, f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')

    def server(self) -> str:
        return str(self._execute(self.admin_dsn, "SHOW server_version")[0])


# -- checking diffs against the day's change set -------------------------------------------------


def _epoch(iso: str | None) -> int | None:
    return None if iso is None else int(datetime.fromisoformat(iso).timestamp())


def expected_changes(day: dict[str, Any], dirs_before: set[str]) -> dict[str, Any]:
    new_dirs = [d for d in day["new_dirs"] if d not in dirs_before]
    return {
        "added_files": {p: (s, m) for p, s, m in day["added"]},
        "added_dirs": set(new_dirs),
        "removed": set(day["deleted"]),
        "modified": {p: (s, m) for p, s, m in day["modified"]},
        "summary": {
            "added": len(day["added"]) + len(new_dirs),
            "removed": len(day["deleted"]),
            "modified": len(day["modified"]),
            "moved": 0,
        },
    }


def _set_check(name: str, got: set[str], want: set[str]) -> list[str]:
    problems = []
    if got - want:
        problems.append(f"{name}: {len(got - want)} unexpected, e.g. {sorted(got - want)[:3]}")
    if want - got:
        problems.append(f"{name}: {len(want - got)} missing, e.g. {sorted(want - got)[:3]}")
    return problems


def check_diff(report: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Every difference between a diff report and the expected change set, as sentences."""
    problems: list[str] = []
    summary = {k: report["summary"][k] for k in ("added", "removed", "modified", "moved")}
    if summary != want["summary"]:
        problems.append(f"summary {summary} != expected {want['summary']}")
    added_files = {e["path"]: e for e in report["added"] if e["type"] == "file"}
    added_dirs = {e["path"] for e in report["added"] if e["type"] == "dir"}
    problems += _set_check("added files", set(added_files), set(want["added_files"]))
    problems += _set_check("added dirs", added_dirs, want["added_dirs"])
    problems += _set_check("removed", {e["path"] for e in report["removed"]}, want["removed"])
    modified = {m["path"]: m["after"] for m in report["modified"]}
    problems += _set_check("modified", set(modified), set(want["modified"]))
    expected = {**want["added_files"], **want["modified"]}
    wrong = [
        p
        for p, e in [*added_files.items(), *modified.items()]
        if p in expected and (e["size"], _epoch(e["mtime"])) != tuple(expected[p])
    ]
    if wrong:
        problems.append(f"size or mtime differ for {len(wrong)} files, e.g. {wrong[:3]}")
    if report["moved"]:
        problems.append(f"{len(report['moved'])} moves reported, none expected")
    return problems


def check_poll(result: dict[str, Any], want: dict[str, int], what: str) -> list[str]:
    got = {k: result[k] for k in want}
    return [] if got == want else [f"{what}: poll reported {got}, expected {want}"]


# -- one backend --------------------------------------------------------------------------------


def bench_backend(
    db: SqliteDb | PostgresDb, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """All steps of the contract on one database; the tree is made afresh for it."""
    root = work / "tree"
    out: dict[str, Any] = {"server": db.server(), "checks": [], "steps": {}}
    steps, checks = out["steps"], out["checks"]
    out["generate_s"] = generate_tree(args.shared, root, args)
    truth = tree_truth(root)
    cli = Cli(monitor_exe(), work / f"{db.name}.toml")
    write_config(cli.config, database=db.url, data_dir=work / db.name, root=root)
    db.create(cli)
    try:
        polls = _poll_steps(cli, db, args, root, truth, steps, checks)
    finally:
        if not args.keep:
            db.drop()
    out.update(_figures(steps, polls))
    return out


def _poll_steps(
    cli: Cli,
    db: SqliteDb | PostgresDb,
    args: argparse.Namespace,
    root: Path,
    truth: dict[str, Any],
    steps: dict[str, Any],
    checks: list[str],
) -> list[Run]:
    log(f"[{db.name}] first poll")
    first, res = cli.poll()
    snap_a = res["snapshot"]
    steps["first_poll"] = _step(first, res)
    want = {"files": truth["files"], "dirs": truth["dirs"], "total_bytes": truth["bytes"]}
    checks += check_poll({**res, "total_bytes": res["bytes"]}, want, "first poll")
    repolls = [cli.poll() for _ in range(3)]
    steps["repoll"] = [_step(r, res) for r, res in repolls]
    checks += [p for _, res in repolls for p in check_poll(res, _zero(), "unchanged re-poll")]

    log(f"[{db.name}] evolve one day, re-poll")
    day_json = root.parent / f"day-{db.name}.json"
    steps["evolve_tree_s"] = evolve_tree(args.shared, root, 1, day_json)
    want_changes = expected_changes(json.loads(day_json.read_text("utf-8")), truth["dir_set"])
    evolved, res = cli.poll()
    snap_b = res["snapshot"]
    steps["evolved_poll"] = _step(evolved, res)
    checks += check_poll(res, {**want_changes["summary"]}, "re-poll after evolve")
    steps["diff_first_evolved"] = _diff_step(cli, snap_a, snap_b, want_changes, checks)

    log(f"[{db.name}] {args.repolls} unchanged re-polls")
    size_before = db.size()
    many = [cli.poll() for _ in range(args.repolls)]
    size_after = db.size()
    checks += [p for _, res in many for p in check_poll(res, _zero(), "unchanged re-poll")]
    snap_z = many[-1][1]["snapshot"] if many else snap_b
    steps["many_repolls"] = {
        "count": len(many),
        "median_s": statistics.median(r.seconds for r, _ in many) if many else None,
        "max_s": max((r.seconds for r, _ in many), default=None),
        "cpu_median_s": statistics.median(r.cpu_seconds for r, _ in many) if many else None,
        "memory_stall_s": sum(r.memory_stall_s for r, _ in many),
        "max_rss_bytes": max((r.max_rss_bytes for r, _ in many), default=None),
        "size_before": size_before,
        "size_after": size_after,
    }
    log(f"[{db.name}] diffs")
    steps["diff_first_latest"] = _diff_step(cli, snap_a, snap_z, want_changes, checks)
    steps["diff_latest_first"] = _diff_step(cli, snap_z, snap_a, _reverse(want_changes), checks)
    steps["diff_evolved_latest"] = _diff_step(cli, snap_b, snap_z, _nothing(), checks)
    return [first, *(r for r, _ in repolls), evolved, *(r for r, _ in many)]


def _zero() -> dict[str, int]:
    return {"added": 0, "removed": 0, "modified": 0, "moved": 0}


def _nothing() -> dict[str, Any]:
    return {
        "added_files": {},
        "added_dirs": set(),
        "removed": set(),
        "modified": {},
        "summary": _zero(),
    }


def _reverse(want: dict[str, Any]) -> dict[str, Any]:
    """The expected diff from the latest state back to the first (checked by its counts)."""
    return {
        "reverse": True,
        "summary": {
            "added": len(want["removed"]),
            "removed": want["summary"]["added"],
            "modified": want["summary"]["modified"],
            "moved": 0,
        },
    }


def _timing(r: Run) -> dict[str, float]:
    return {
        "seconds": r.seconds,
        "cpu_seconds": r.cpu_seconds,
        "memory_stall_s": r.memory_stall_s,
        "max_rss_bytes": r.max_rss_bytes,
    }


def _step(r: Run, result: dict[str, Any]) -> dict[str, Any]:
    keep = ("snapshot", "status", "files", "dirs", "added", "removed", "modified", "moved")
    return {
        **_timing(r),
        "engine_seconds": float(result.get("seconds", 0) or 0),
        **{k: result.get(k) for k in keep},
    }


def _diff_step(cli: Cli, a: int, b: int, want: dict[str, Any], checks: list[str]) -> dict[str, Any]:
    r, report = cli.diff(a, b)
    if want.get("reverse"):
        summary = {k: report["summary"][k] for k in want["summary"]}
        problems = [] if summary == want["summary"] else [f"summary {summary} != {want['summary']}"]
    else:
        problems = check_diff(report, want)
    checks += [f"diff {a}->{b}: {p}" for p in problems]
    return {
        "from": a,
        "to": b,
        **_timing(r),
        "summary": report["summary"],
        "ok": not problems,
    }


def _figures(steps: dict[str, Any], polls: list[Run]) -> dict[str, Any]:
    diffs = [v for k, v in steps.items() if k.startswith("diff_")]
    slowest = max(diffs, key=lambda d: d["seconds"])
    many = steps["many_repolls"]
    repoll = sorted(steps["repoll"], key=lambda s: s["seconds"])[len(steps["repoll"]) // 2]
    timed = {
        "first_poll": steps["first_poll"],
        "repoll": repoll,
        "evolved_poll": steps["evolved_poll"],
        "diff_max": slowest,
    }
    figures: dict[str, Any] = {}
    for key, step in timed.items():
        figures[f"{key}_s"] = step["seconds"]
        figures[f"{key}_cpu_s"] = step["cpu_seconds"]
    figures["growth_bytes"] = many["size_after"]["bytes"] - many["size_before"]["bytes"]
    figures["peak_rss_bytes"] = max(r.max_rss_bytes for r in polls)
    runs = [(f"poll {i + 1}", _timing(r)) for i, r in enumerate(polls)]
    runs += [(f"diff {d['from']}->{d['to']}", d) for d in diffs]
    figures["warnings"] = [
        f"{name}: the machine stalled on memory for {t['memory_stall_s']:.1f} s of its "
        f"{t['seconds']:.1f} s (cpu {t['cpu_seconds']:.2f} s); its wall time is disturbed"
        for name, t in runs
        if t["memory_stall_s"] > STALL_WARN_S
    ]
    return figures


# -- reference tools ----------------------------------------------------------------------------


def bench_references(root: Path, work: Path, times: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    find = shutil.which("find")
    if find:
        argv = [find, str(root), "-printf", "%P\\t%s\\t%T@\\n"]
        out["find"] = {"argv": argv, **median_run(argv, times, stdout="devnull")}
    rclone = shutil.which("rclone")
    if rclone is None:
        out["rclone"] = {"skipped": "rclone is not installed (apt-get install -y rclone)"}
    else:
        listing = work / "rclone.json"
        argv = [rclone, "lsjson", "-R", str(root)]
        out["rclone"] = {
            "argv": argv,
            "version": run([rclone, "version"]).stdout.splitlines()[0],
            **median_run(argv, times, stdout=str(listing)),
            "entries": len(json.loads(listing.read_text("utf-8"))),
            "note": "entries counts files and folders",
        }
    exe = monitor_exe()
    out["monitor_version"] = {"argv": [exe, "--version"], **median_run([exe, "--version"], times)}
    return out


# -- report -------------------------------------------------------------------------------------


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s"
    if value >= MB:
        return f"{value / MB:.1f} MB"
    return f"{value / 1024:.1f} KiB"


def markdown(results: dict[str, Any]) -> str:
    backends, m, tree = results["backends"], results["machine"], results["tree"]
    project = m["project"]
    lines = [
        f"{tree['files']:,} files, {tree['dirs']:,} folders; {m['nproc']} cores, Python "
        f"{m['python']}, SQLite {m['sqlite']}; project {project['commit']} "
        f"({'monitor/ modified' if project['monitor_dirty'] else 'clean'}), {m['date']}",
        "",
        "| figure | target | " + " | ".join(backends) + " |",
        "|" + " --- |" * (2 + len(backends)),
    ]
    for key, label, limit, unit in CONTRACT:
        cells = []
        for b in backends.values():
            value = b.get(key)
            verdict = "pass" if value is not None and value <= limit else "**FAIL**"
            cpu = b.get(key.replace("_s", "_cpu_s")) if unit == "s" else None
            shown = _show(value, unit) + (f" (cpu {cpu:.2f})" if cpu is not None else "")
            cells.append(f"{shown} {verdict}")
        label = label.replace("30", str(results["args"]["repolls"]))
        lines.append(f"| {label} | <= {_show(limit, unit)} | " + " | ".join(cells) + " |")
    checks = [
        "ok" if not b["checks"] else f"**{len(b['checks'])} problems**" for b in backends.values()
    ]
    lines.append("| counts match the tree and day.json | all | " + " | ".join(checks) + " |")
    lines += ["", _reference_table(results), ""]
    rclone = results["references"].get("rclone", {})
    if "entries" in rclone:
        lines.append(
            f"- rclone listed {rclone['entries']:,} entries; the tree has "
            f"{tree['files'] + tree['dirs']:,} files and folders"
        )
    for name, b in backends.items():
        lines += [f"- {name}: {p}" for p in b["checks"]]
        lines += [f"- {name} (warning): {w}" for w in b["warnings"]]
    return "\n".join(lines)


def _reference_table(results: dict[str, Any]) -> str:
    refs, backends = results["references"], results["backends"]
    lines = [
        "| tool | median wall (cpu) | peak RSS | first poll / tool | unchanged re-poll / tool |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, label in [
        ("find", "find -printf (floor)"),
        ("rclone", "rclone lsjson -R"),
        ("monitor_version", "monitor --version (CLI start-up)"),
    ]:
        ref = refs.get(name, {})
        if "median_s" not in ref:
            lines.append(f"| {label} | skipped: {ref.get('skipped', 'not run')} | | | |")
            continue
        wall = ref["median_s"]

        def ratio(key: str, wall: float = wall) -> str:
            return ", ".join(f"{n} {b[key] / wall:.1f}x" for n, b in backends.items())

        lines.append(
            f"| {label} | {wall:.3f} s ({ref['cpu_median_s']:.2f}) "
            f"| {_show(ref['max_rss_bytes'], 'b')} | {ratio('first_poll_s')} "
            f"| {ratio('repoll_s')} |"
        )
    return "\n".join(lines)


def git_state() -> dict[str, Any]:
    """The commit of the project under test, and whether monitor/ differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(HERE.parent), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "monitor_dirty": bool(git("status", "--porcelain", "--", "monitor")),
    }


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "gnu_time_for_rss": GNU_TIME is not None,
        "project": git_state(),
    }


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--dirs", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--out", type=Path, default=HERE / "results-engine.json")
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder of gen_tree.py")
    p.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (no database name)")
    p.add_argument("--repolls", type=int, default=30, help="unchanged re-polls for DB growth")
    p.add_argument("--repeat", type=int, default=3, help="runs of each reference tool")
    p.add_argument("--keep", action="store_true", help="keep the work folder and PG database")
    return p.parse_args(argv)


def free_port(first: int = 19050, last: int = 19099) -> int:
    """A port of serve_nginx.sh's range (19000-19099) that nothing holds on 127.0.0.1."""
    import socket

    for port in range(first, last + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.shared = args.shared.resolve()
    if not (args.shared / "gen_tree.py").exists():
        sys.exit(f"no gen_tree.py in {args.shared}; pass --shared DIR")
    work = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    results: dict[str, Any] = {"machine": machine(), "args": {**vars(args)}, "backends": {}}
    results["args"].update(shared=str(args.shared), out=str(args.out))
    try:
        log(f"work folder {work}; generating the tree and running the reference tools")
        generate_tree(args.shared, work / "tree", args)
        truth = tree_truth(work / "tree")
        results["tree"] = {k: v for k, v in truth.items() if k != "dir_set"}
        results["references"] = bench_references(work / "tree", work, args.repeat)
        chosen = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        for name in chosen:
            db = SqliteDb(work) if name == "sqlite" else PostgresDb(args.pg_url)
            results["backends"][name] = bench_backend(db, work, args)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(markdown(results))
    failed = any(b["checks"] for b in results["backends"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
