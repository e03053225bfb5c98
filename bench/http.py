"""Benchmark of the HTTP source (crawl + store) against the curl floor and rclone, on nginx.

The contract of the HTTP source's issue, on trees made by ``gen_tree.py`` and served by stock
nginx autoindex (``serve_nginx.sh``), with real round-trip time from ``netlab.sh``:

- 100,000 files / 2,001 folders at +50 ms RTT: the project's full poll (crawl + store) with 16
  connections <= 1.5x the curl floor (every listing page fetched once, 16 in parallel);
- on loopback, an unchanged re-poll <= 0.5x the time of ``rclone lsjson -R`` (8 checkers);
- peak RSS of a poll <= 250 MB (10^6 bytes);
- the inventory (``monitor ls TARGET -f json``) equals the generated tree: sizes exact, mtimes
  to the listing's precision (nginx HTML: the minute; nginx JSON: the second);

and the same figures on 10,000 files / 201 folders and on nginx's JSON listing format.

Every figure comes from a real process measured on its own, as in ``engine.py``: wall time
(``perf_counter`` around the process, start-up included), CPU (user + system, ``os.wait4``),
peak RSS (GNU time ``%M``). The project, curl and rclone run interleaved in one run on the same
server. Over the delayed link, nginx runs in the ``benchsrv`` namespace and every client under
``ip netns exec benchcli``; the link is taken down at the end, whatever happens.

Run from the repository root, as root (network namespaces), with the project installed::

    python bench/http.py                  # 10k and 100k, loopback and +50 ms, HTML and JSON
    python bench/http.py --quick          # 10k only
    python bench/http.py --trees 100k --links rtt --formats html
"""

from __future__ import annotations

import os
import sys

# This file is bench/http.py. With bench/ first on sys.path (``python bench/http.py``) it
# would shadow the standard library's ``http`` package, which httpx, urllib and cProfile's
# callers import. Move bench/ to the end: the standard library wins, and ``import engine``
# still finds bench/engine.py.
sys.path[:] = [
    p
    for p in sys.path
    if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))
] + [os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from engine import (  # noqa: E402  (bench/engine.py: same measuring as the engine benchmark)
    GNU_TIME,
    MB,
    STALL_WARN_S,
    Run,
    free_port,
    git_state,
    log,
    monitor_exe,
)
from engine import run as engine_run  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "bench"
CLI_NS, SRV_NS, SRV_ADDR = "benchcli", "benchsrv", "10.199.1.2"
TREES = {"10k": (10_000, 200), "100k": (100_000, 2_000)}
LINKS = ("loopback", "rtt")
FORMATS = ("html", "json")
#: Limits of the contract.
RTT_FLOOR_RATIO = 1.5
LOOPBACK_RCLONE_RATIO = 0.5
PEAK_RSS = 250 * MB
#: Seconds any one process may take before it is killed (and the run fails).
PROCESS_TIMEOUT = 900.0
#: A poll during which the rest of the machine kept more cores busy than this was crowded.
CROWDED_CORES = 0.7
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
HZ = os.sysconf("SC_CLK_TCK")


# -- running one process ------------------------------------------------------------------------


@dataclass
class Measured:
    """A :class:`engine.Run` and what the rest of the machine did meanwhile."""

    run: Run
    #: Cores the whole machine kept busy on average during the run (/proc/stat); compare with
    #: cpu_seconds / seconds of the process itself to see what else ran.
    machine_busy_cores: float
    #: Requests nginx logged during the run (method and status counts, connections, bytes).
    access: dict[str, Any] = field(default_factory=dict)
    #: CPU seconds of the delay link's process during the run (the userspace wire).
    wire_cpu_s: float | None = None

    def record(self) -> dict[str, Any]:
        r = self.run
        out: dict[str, Any] = {
            "seconds": round(r.seconds, 4),
            "cpu_seconds": round(r.cpu_seconds, 3),
            "max_rss_bytes": r.max_rss_bytes,
            "memory_stall_s": round(r.memory_stall_s, 3),
            "machine_busy_cores": round(self.machine_busy_cores, 2),
            "access": self.access,
        }
        if self.wire_cpu_s is not None:
            out["wire_cpu_s"] = round(self.wire_cpu_s, 3)
        return out


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def process_cpu(pid: int | None) -> float | None:
    """utime + stime of one process, seconds; None when it is gone or unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / HZ


def run(
    argv: Sequence[str],
    *,
    netns: str | None = None,
    stdout: str = "capture",
    check: bool = True,
    timeout: float = PROCESS_TIMEOUT,
    env: dict[str, str] | None = None,
) -> tuple[Run, float]:
    """``engine.run`` (under ``ip netns exec NETNS`` if given), and the machine's average
    busy cores while it ran."""
    busy0, total0 = busy_jiffies()
    prefix = ["ip", "netns", "exec", netns] if netns else []
    result = engine_run(argv, stdout=stdout, check=check, prefix=prefix, timeout=timeout, env=env)
    busy1, total1 = busy_jiffies()
    cores = os.cpu_count() or 1
    busy = (busy1 - busy0) / (total1 - total0) * cores if total1 > total0 else 0.0
    return result, busy


def git_rev(rev: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(HERE.parent), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def export_commit(rev: str, work: Path) -> str:
    """``monitor/`` as committed at ``rev``, unpacked into the work folder; its parent folder.

    Put first on PYTHONPATH, it is the ``monitor`` package every child imports (ahead of the
    editable install), so a run measures one known commit while others edit the work tree.
    """
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    repo = str(HERE.parent)
    archive = subprocess.run(
        ["git", "-C", repo, "archive", "--format=tar", rev, "monitor"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    byte_compile(src / "monitor")
    return str(src)


def byte_compile(package: Path) -> None:
    """Compile the package's modules once, as pip does when it installs one: otherwise every
    measured process compiles them again at start-up (and never keeps the result when
    ``PYTHONDONTWRITEBYTECODE`` is set), about 0.15 s of each poll's wall time."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


# -- trees, servers and the delayed link --------------------------------------------------------


@dataclass
class Tree:
    label: str
    files: int
    dirs: int
    root: Path
    manifest: Path
    #: path → (size, mtime seconds), from gen_tree.py --manifest
    truth: dict[str, tuple[int, int]]
    truth_dirs: set[str]

    @property
    def bytes(self) -> int:
        return sum(s for s, _ in self.truth.values())


def make_tree(shared: Path, work: Path, label: str, seed: int) -> Tree:
    files, dirs = TREES[label]
    root = work / f"tree-{label}"
    gen = [sys.executable, str(shared / "gen_tree.py"), str(root)]
    run([*gen, "--dirs", str(dirs), "--files", str(files), "--depth", "3", "--seed", str(seed)])
    manifest = work / f"truth-{label}.tsv"
    run([*gen, "--manifest", str(manifest)])
    truth: dict[str, tuple[int, int]] = {}
    with open(manifest, encoding="utf-8", newline="\n") as f:
        for line in f:
            path, size, mtime = line.rstrip("\n").rsplit("\t", 2)
            truth[path] = (int(size), int(mtime))
    with open(str(manifest) + ".dirs", encoding="utf-8", newline="\n") as f:
        truth_dirs = {line.rstrip("\n") for line in f if line.strip()}
    return Tree(label, len(truth), len(truth_dirs), root, manifest, truth, truth_dirs)


@dataclass
class Server:
    name: str
    port: int
    url: str
    access_log: Path


@contextmanager
def nginx(
    shared: Path, env: dict[str, str], name: str, root: Path, fmt: str, netns: str | None
) -> Iterator[Server]:
    """serve_nginx.sh start ... stop, by its own pid file (never by process name)."""
    script = ["bash", str(shared / "serve_nginx.sh")]
    port = free_port()
    argv = [*script, "start", str(root), str(port), "--name", name]
    argv += ["--json"] if fmt == "json" else []
    addr = "127.0.0.1"
    if netns:
        addr = SRV_ADDR
        argv += ["--netns", netns, "--addr", addr]
    subprocess.run(argv, check=True, env=env, capture_output=True, timeout=60)
    log_path = Path(env["BENCH_RUN"]) / f"nginx-{name}" / "access.log"
    try:
        yield Server(name, port, f"http://{addr}:{port}/", log_path)
    finally:
        subprocess.run(
            [*script, "stop", str(port), "--name", name], env=env, capture_output=True, timeout=60
        )


@contextmanager
def netlab(shared: Path, env: dict[str, str], rtt_ms: int) -> Iterator[dict[str, Any]]:
    """netlab.sh up RTT ... down (always). Refuses to touch namespaces that exist already."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    taken = {line.split()[0] for line in names.splitlines() if line.strip()} & {CLI_NS, SRV_NS}
    if taken:
        raise RuntimeError(
            f"network namespaces {sorted(taken)} exist already (another benchmark running, or "
            f"a stale lab: 'BENCH_RUN=... {shared}/netlab.sh down' removes it)"
        )
    script = ["bash", str(shared / "netlab.sh")]
    info: dict[str, Any] = {"rtt_ms": rtt_ms}
    try:
        up = subprocess.run(
            [*script, "up", str(rtt_ms)], env=env, capture_output=True, text=True, timeout=60
        )
        if up.returncode != 0:
            raise RuntimeError(f"netlab.sh up failed:\n{up.stdout}{up.stderr}")
        info["mode"] = up.stdout.strip()
        pid_file = Path(env["BENCH_RUN"]) / "delaylink.pid"
        info["wire_pid"] = int(pid_file.read_text().strip()) if pid_file.exists() else None
        yield info
    finally:
        down = subprocess.run(
            [*script, "down"], env=env, capture_output=True, text=True, timeout=60
        )
        info["down"] = (down.stdout + down.stderr).strip()
        log(f"netlab down: {info['down']}")


# -- nginx's access log -------------------------------------------------------------------------


class AccessLog:
    """Reads what nginx logged since the last call (format 'bench' of serve_nginx.sh)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def since(self) -> dict[str, Any]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        methods: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        conns: set[str] = set()
        sent = 0
        for line in data.decode("utf-8", "replace").splitlines():
            # 10.199.1.1:41234 conn=12 [24/Nov/2026:21:06:12 +0000] "GET / HTTP/1.1" 200 1234 0.000
            try:
                head, request, tail = line.split('"', 2)
                conns.add(head.split()[1])
                methods[request.split(" ", 1)[0]] += 1
                status, size = tail.split()[:2]
                statuses[status] += 1
                sent += int(size)
            except (ValueError, IndexError):
                methods["(unparsed)"] += 1
        return {
            "requests": sum(methods.values()),
            "methods": dict(methods),
            "statuses": dict(statuses),
            "connections": len(conns),
            "body_bytes": sent,
        }


# -- checking inventories -----------------------------------------------------------------------


def _epoch(iso: str | None) -> int | None:
    return None if iso is None else int(datetime.fromisoformat(iso).timestamp())


def check_inventory(
    tree: Tree, listed: dict[str, tuple[int | None, int | None]], dirs: set[str], step: int
) -> dict[str, Any]:
    """Compare a listing (path → (size, mtime s)) with the manifest; mtimes to ``step`` s."""
    files = set(listed)
    missing, extra = tree.truth.keys() - files, files - tree.truth.keys()
    both = files & tree.truth.keys()
    size_wrong = sorted(p for p in both if listed[p][0] != tree.truth[p][0])
    mtime_wrong = sorted(
        p for p in both if listed[p][1] != tree.truth[p][1] - tree.truth[p][1] % step
    )
    problems = []
    for name, paths in [
        ("files missing", sorted(missing)),
        ("files not in the tree", sorted(extra)),
        ("folders missing", sorted(tree.truth_dirs - dirs)),
        ("folders not in the tree", sorted(dirs - tree.truth_dirs)),
        ("sizes differ", size_wrong),
        (f"mtimes differ (to {step} s)", mtime_wrong),
    ]:
        if paths:
            problems.append(f"{len(paths)} {name}, e.g. {paths[:3]}")
    return {
        "files": len(files),
        "dirs": len(dirs),
        "mtime_precision_s": step,
        "ok": not problems,
        "problems": problems,
    }


def monitor_inventory(tree: Tree, rows: list[dict[str, Any]], step: int) -> dict[str, Any]:
    listed = {r["path"]: (r["size"], _epoch(r["mtime"])) for r in rows if r["type"] == "file"}
    dirs = {r["path"] for r in rows if r["type"] == "dir"}
    return check_inventory(tree, listed, dirs, step)


def rclone_inventory(tree: Tree, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """rclone HEADs every file, so its times come from Last-Modified: exact to the second."""
    listed = {r["Path"]: (r["Size"], _epoch(r["ModTime"])) for r in rows if not r["IsDir"]}
    dirs = {r["Path"] for r in rows if r["IsDir"]}
    return check_inventory(tree, listed, dirs, 1)


# -- one case: a tree, a link and a listing format ----------------------------------------------


@dataclass
class Link:
    name: str
    netns: str | None
    server_netns: str | None
    wire_pid: int | None = None


def write_config(path: Path, db_dir: Path, url: str, args: argparse.Namespace) -> None:
    db_url = "sqlite:///" + str(db_dir / "monitor.db")
    path.write_text(
        f"database = {json.dumps(db_url)}\n"
        f"data_dir = {json.dumps(str(db_dir))}\n\n"
        "[[target]]\n"
        'name = "bench"\n'
        'kind = "http"\n'
        f"url = {json.dumps(url)}\n"
        f"concurrency = {args.concurrency}\n"
        f"rate = {args.rate}\n",
        encoding="utf-8",
    )


class Case:
    """Runs one case and keeps its measurements."""

    def __init__(
        self, tree: Tree, link: Link, fmt: str, server: Server, work: Path, args: argparse.Namespace
    ) -> None:
        self.tree, self.link, self.fmt, self.server, self.args = tree, link, fmt, server, args
        self.name = f"{tree.label}-{link.name}-{fmt}"
        self.dir = work / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "monitor.toml"
        write_config(self.config, self.dir / "db", server.url, args)
        self.urls = self.dir / "urls.cfg"
        with open(self.urls, "w", encoding="utf-8") as f:
            subprocess.run(
                [
                    sys.executable,
                    str(args.shared / "floor_urls.py"),
                    server.url,
                    str(tree.manifest) + ".dirs",
                ],
                stdout=f,
                check=True,
                timeout=60,
            )
        self.access = AccessLog(server.access_log)
        self.exe = monitor_exe()
        self.checks: list[str] = []

    def measure(self, argv: Sequence[str], *, netns: bool = True, **kw: Any) -> Measured:
        wire0 = process_cpu(self.link.wire_pid)
        self.access.since()
        r, busy = run(argv, netns=self.link.netns if netns else None, **kw)
        wire1 = process_cpu(self.link.wire_pid)
        wire = wire1 - wire0 if wire0 is not None and wire1 is not None else None
        return Measured(r, busy, self.access.since(), wire)

    def poll(self) -> tuple[Measured, dict[str, Any]]:
        m = self.measure([self.exe, "--config", str(self.config), "poll", "bench", "-f", "json"])
        return m, json.loads(m.run.stdout)[0]

    def floor(self) -> Measured:
        argv = ["curl", "-s", "-Z", "--parallel-max", "16", "-K", str(self.urls), "-o", "/dev/null"]
        m = self.measure(argv)
        pages = self.tree.dirs + 1
        if m.access.get("statuses") != {"200": pages}:
            self.checks.append(f"curl floor: nginx logged {m.access}, expected {pages} x 200")
        return m

    def rclone(self, keep_listing: bool) -> tuple[Measured, dict[str, Any]]:
        listing = self.dir / "rclone.json"
        argv = ["rclone", "lsjson", "-R", "--http-url", self.server.url, ":http:"]
        m = self.measure(argv, stdout=str(listing), check=False)
        rows = []
        try:
            rows = json.loads(listing.read_text("utf-8"))
        except ValueError:
            pass
        inv = rclone_inventory(self.tree, rows)
        inv["returncode"] = m.run.returncode
        inv["errors"] = [x for x in m.run.stderr.splitlines() if "ERROR" in x][:5]
        if not keep_listing:
            listing.unlink(missing_ok=True)
        return m, inv

    def check_poll(self, res: dict[str, Any], what: str, first: bool) -> None:
        want: dict[str, Any] = {
            "status": "complete",
            "files": self.tree.files,
            "dirs": self.tree.dirs,
            "bytes": self.tree.bytes,
            "failed_folders": [],
        }
        if first:
            want["added"] = self.tree.files + self.tree.dirs
        else:
            want.update(added=0, removed=0, modified=0, moved=0)
        got = {k: res.get(k) for k in want}
        if got != want:
            self.checks.append(f"{what}: poll reported {got}, expected {want}")

    def go(self) -> dict[str, Any]:
        args = self.args
        out: dict[str, Any] = {"name": self.name, "url": self.server.url}
        out["load_before"] = os.getloadavg()
        use_rclone = self.fmt == "html" and not args.no_rclone
        rclone_runs = 1 if self.link.name == "rtt" and self.tree.files >= 100_000 else args.repeat
        rclone_runs = min(rclone_runs, args.repeat)

        floors, rclones, firsts, repolls = [], [], [], []
        for i in range(args.repeat):
            with_rclone = use_rclone and i < rclone_runs
            log(
                f"[{self.name}] round {i + 1}/{args.repeat}: curl floor"
                + (", rclone" if with_rclone else "")
                + ", first poll (new database), unchanged re-poll"
            )
            floors.append(self.floor())
            if with_rclone:
                m, inv = self.rclone(keep_listing=args.keep)
                rclones.append(m)
                out["rclone_inventory"] = inv
            shutil.rmtree(self.dir / "db", ignore_errors=True)
            m, res = self.poll()
            self.check_poll(res, f"first poll {i + 1}", first=True)
            firsts.append({**m.record(), "engine_seconds": float(res["seconds"])})
            if i == 0:
                self.inventory(out)
            m, res = self.poll()
            self.check_poll(res, f"re-poll {i + 1}", first=False)
            repolls.append({**m.record(), "engine_seconds": float(res["seconds"])})
        out["first_poll"] = summary(firsts)
        out["floor"] = summary([f.record() for f in floors])
        out["rclone"] = (
            summary([r.record() for r in rclones])
            if rclones
            else {
                "skipped": "rclone's http backend reads HTML listings only"
                if self.fmt == "json"
                else "--no-rclone"
            }
        )
        out["repoll"] = summary(repolls)
        out["load_after"] = os.getloadavg()
        if args.profile:
            out["phases"] = self.phases()
            out["profile"] = self.profile(args.profile)
        out["checks"] = self.checks
        return out

    def inventory(self, out: dict[str, Any]) -> None:
        """``monitor ls`` of the latest snapshot against the manifest (not timed)."""
        ls, _ = run([self.exe, "--config", str(self.config), "ls", "bench", "-f", "json"])
        step = 60 if self.fmt == "html" else 1
        out["inventory"] = monitor_inventory(self.tree, json.loads(ls.stdout), step)
        out["ls_seconds"] = round(ls.seconds, 3)
        if not out["inventory"]["ok"]:
            self.checks += [f"inventory: {p}" for p in out["inventory"]["problems"]]

    def phases(self) -> dict[str, float]:
        """One more unchanged re-poll in a process of its own, phases timed in-process."""
        log(f"[{self.name}] re-poll with its phases timed")
        argv = [sys.executable, str(Path(__file__).resolve()), "--phases-of", str(self.config)]
        r, _ = run(argv, netns=self.link.netns)
        return {**json.loads(r.stdout), "wall (process)": r.seconds}

    def profile(self, folder: Path) -> str:
        """One more unchanged re-poll, in-process under cProfile (not part of the figures)."""
        folder.mkdir(parents=True, exist_ok=True)
        prof = folder / f"{self.name}.prof"
        argv = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(prof),
            "-m",
            "monitor",
            "--config",
            str(self.config),
            "poll",
            "bench",
            "-f",
            "json",
        ]
        log(f"[{self.name}] profiled re-poll -> {prof}")
        r, _ = run(argv, netns=self.link.netns)
        text = folder / f"{self.name}.txt"
        import io
        import pstats

        buf = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buf)
        buf.write(f"wall {r.seconds:.2f} s, cpu {r.cpu_seconds:.2f} s under cProfile\n")
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
        text.write_text(buf.getvalue(), encoding="utf-8")
        return str(text)


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Median wall and CPU of a few runs, their peak RSS, and every run."""
    return {
        "median_s": statistics.median(r["seconds"] for r in records),
        "cpu_median_s": statistics.median(r["cpu_seconds"] for r in records),
        "max_rss_bytes": max(r["max_rss_bytes"] for r in records),
        "runs": records,
    }


# -- figures and report -------------------------------------------------------------------------


def figures(cases: dict[str, dict[str, Any]]) -> None:
    """Ratios and verdicts of each case, in place."""
    for name, c in cases.items():
        tree, link, _ = name.split("-")
        floor = c["floor"]["median_s"]
        rclone = c["rclone"].get("median_s")
        vs = "same format"
        if rclone is None:  # JSON: compare with rclone on the HTML listing of the same tree
            rclone = cases.get(f"{tree}-{link}-html", {}).get("rclone", {}).get("median_s")
            vs = "rclone on the HTML listing of the same tree"
        first, repoll = c["first_poll"]["median_s"], c["repoll"]["median_s"]
        f: dict[str, Any] = {
            "first_over_floor": first / floor,
            "repoll_over_floor": repoll / floor,
            "first_over_rclone": first / rclone if rclone else None,
            "repoll_over_rclone": repoll / rclone if rclone else None,
            "rclone_compared": vs,
            "peak_rss_bytes": max(c["first_poll"]["max_rss_bytes"], c["repoll"]["max_rss_bytes"]),
        }
        # The poll's own seconds (its JSON): what each poll of the daemon takes, which pays
        # the process start-up once, not per poll.
        first_in = statistics.median(r["engine_seconds"] for r in c["first_poll"]["runs"])
        repoll_in = statistics.median(r["engine_seconds"] for r in c["repoll"]["runs"])
        f.update(
            first_seconds_in_daemon=first_in,
            repoll_seconds_in_daemon=repoll_in,
            first_in_daemon_over_floor=first_in / floor,
            repoll_in_daemon_over_floor=repoll_in / floor,
            repoll_in_daemon_over_rclone=repoll_in / rclone if rclone else None,
        )
        f["inventory"] = c["inventory"]["ok"]
        verdicts = {"peak_rss_bytes": f["peak_rss_bytes"] <= PEAK_RSS, "inventory": f["inventory"]}
        if link == "rtt":
            for key in ("first_over_floor", "repoll_over_floor"):
                for k in (key, key.replace("_over", "_in_daemon_over")):
                    verdicts[k] = f[k] <= RTT_FLOOR_RATIO
        elif f["repoll_over_rclone"] is not None:
            for k in ("repoll_over_rclone", "repoll_in_daemon_over_rclone"):
                verdicts[k] = f[k] <= LOOPBACK_RCLONE_RATIO
        f["verdicts"] = verdicts
        stalls = [(f"first poll {i + 1}", r) for i, r in enumerate(c["first_poll"]["runs"])]
        stalls += [(f"re-poll {i + 1}", r) for i, r in enumerate(c["repoll"]["runs"])]
        f["warnings"] = [
            f"{what}: the machine stalled on memory for {r['memory_stall_s']:.1f} s"
            for what, r in stalls
            if r["memory_stall_s"] > STALL_WARN_S
        ]
        # cores kept busy by other processes (nginx, the delay wire, other jobs) during a poll
        crowded = [
            what
            for what, r in stalls
            if r["machine_busy_cores"] - r["cpu_seconds"] / r["seconds"] > CROWDED_CORES
        ]
        if crowded:
            f["warnings"].append(
                f"{len(crowded)} of {len(stalls)} polls ran while other processes kept more "
                f"than {CROWDED_CORES} core busy ({', '.join(crowded)}): their wall times are "
                "disturbed"
            )
        c["figures"] = f


def _v(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "**FAIL**")


def _t(rec: dict[str, Any], key: str = "median_s") -> str:
    cpu = rec["cpu_median_s" if key == "median_s" else "cpu_seconds"]
    return f"{rec[key]:.2f} s (cpu {cpu:.2f})"


def markdown(results: dict[str, Any]) -> str:
    cases, a = results["cases"], results["args"]
    m = results["machine"]
    proj, meas = m["project"], results["measured"]
    source = f"monitor/ of commit {meas['commit']} ({meas['source']})"
    if meas["source"] == "work tree":
        dirty = "monitor/ modified" if proj["monitor_dirty"] else "clean"
        source = f"the work tree at {proj['commit']} ({dirty})"
    lines = [
        f"{m['nproc']} cores, Python {m['python']}, nginx {m['nginx']}, {m['rclone']}, "
        f"{m['curl']}; measured: {source}, {m['date']}; "
        f"http target: concurrency {a['concurrency']}, rate {a['rate']:g}/s; "
        f"+{a['rtt_ms']} ms link: {results.get('netlab', {}).get('mode', 'not used')}; "
        f"sniffio {'importable' if m['sniffio_importable'] else 'not installed'}",
        "",
    ]
    # contract table: one column per tree and format
    combos = [
        (t, f)
        for t in ("100k", "10k")
        for f in FORMATS
        if any(n.startswith(f"{t}-") and n.endswith(f"-{f}") for n in cases)
    ]
    head = [
        f"{t} {f.upper()}" + (" (contract)" if (t, f) == ("100k", "html") else "")
        for t, f in combos
    ]
    lines += ["| figure | target | " + " | ".join(head) + " |", "|" + " --- |" * (2 + len(combos))]

    def row(label: str, target: str, link: str, key: str, fmt_value: Any) -> None:
        cells = []
        for t, f in combos:
            c = cases.get(f"{t}-{link}-{f}")
            if c is None:
                cells.append("not run")
                continue
            fig = c["figures"]
            value = fig.get(key)
            if value is None:
                cells.append("-")
                continue
            cells.append(f"{fmt_value(value, c)} {_v(fig['verdicts'].get(key))}".strip())
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |")

    def ratio(value: float, c: dict[str, Any]) -> str:
        return f"{value:.2f}x"

    rtt = a["rtt_ms"]
    row(
        f"+{rtt} ms: first poll / curl floor",
        f"<= {RTT_FLOOR_RATIO}x",
        "rtt",
        "first_over_floor",
        ratio,
    )
    row(
        f"+{rtt} ms: unchanged re-poll / curl floor",
        f"<= {RTT_FLOOR_RATIO}x",
        "rtt",
        "repoll_over_floor",
        ratio,
    )
    row(
        "loopback: unchanged re-poll / rclone",
        f"<= {LOOPBACK_RCLONE_RATIO}x",
        "loopback",
        "repoll_over_rclone",
        ratio,
    )
    daemon = "in the daemon†"
    for label, link, key in (
        (f"+{rtt} ms: first poll / curl floor", "rtt", "first_in_daemon_over_floor"),
        (f"+{rtt} ms: unchanged re-poll / curl floor", "rtt", "repoll_in_daemon_over_floor"),
        ("loopback: unchanged re-poll / rclone", "loopback", "repoll_in_daemon_over_rclone"),
    ):
        target = LOOPBACK_RCLONE_RATIO if link == "loopback" else RTT_FLOOR_RATIO
        row(f"{label}, {daemon}", f"<= {target}x", link, key, ratio)
    for link in ("loopback", "rtt"):
        row(
            f"peak RSS of a poll ({link if link == 'loopback' else f'+{rtt} ms'})",
            "<= 250 MB",
            link,
            "peak_rss_bytes",
            lambda v, c: f"{v / MB:.0f} MB",
        )
    for link in ("loopback", "rtt"):
        row(
            f"inventory = tree ({link if link == 'loopback' else f'+{rtt} ms'})",
            "all",
            link,
            "inventory",
            lambda v, c: "ok" if v else f"{len(c['inventory']['problems'])} problems",
        )
    lines += [
        "",
        "Wall seconds, median of "
        f"{a['repeat']} unless noted (CPU seconds of the process in brackets):",
        "",
        "| case | curl floor (16 parallel) | rclone lsjson -R | first poll "
        "| unchanged re-poll | first / floor | re-poll / floor | re-poll / rclone "
        "| in the daemon: first, re-poll | peak RSS |",
        "|" + " --- |" * 10,
    ]
    for name, c in cases.items():
        fig = c["figures"]
        rc = c["rclone"]
        if "median_s" in rc:
            n = len(rc["runs"])
            rc_text = _t(rc) + ("" if n == a["repeat"] else f" ({n} run{'s' * (n > 1)})")
        else:
            rc_text = "n/a"
        vs = fig["repoll_over_rclone"]
        vs_text = "-" if vs is None else f"{vs:.2f}x" + ("*" if "median_s" not in rc else "")
        lines.append(
            f"| {name} | {_t(c['floor'])} | {rc_text} | {_t(c['first_poll'])} "
            f"| {_t(c['repoll'])} | {fig['first_over_floor']:.2f}x "
            f"| {fig['repoll_over_floor']:.2f}x | {vs_text} "
            f"| {fig['first_seconds_in_daemon']:.2f} s, {fig['repoll_seconds_in_daemon']:.2f} s "
            f"| {fig['peak_rss_bytes'] / MB:.0f} MB |"
        )
    lines.append("")
    lines.append(
        "\\* JSON: against rclone on the HTML listing of the same tree and link "
        "(rclone's http backend cannot read nginx's JSON listing)."
    )
    lines.append(
        "† In the daemon: the poll's own seconds from its JSON (`seconds`, crawl + store), "
        "what each poll of `monitor run` takes; the one-shot `monitor poll` also pays the "
        "process start-up (`monitor --version` below) and exit."
    )
    lines.append("")
    for name, c in cases.items():
        p = c["first_poll"]["runs"][0]["access"]
        rc = c["rclone"].get("runs", [{}])[0].get("access")
        inv = c["inventory"]
        note = (
            f"- {name}: inventory {inv['files']:,} files, {inv['dirs']:,} folders, "
            f"{'equal to the tree' if inv['ok'] else 'DIFFERENT'} (mtimes to "
            f"{inv['mtime_precision_s']} s); poll {p.get('requests')} requests on "
            f"{p.get('connections')} connections"
        )
        if rc:
            ri = c.get("rclone_inventory", {})
            note += (
                f"; rclone {rc['requests']:,} requests ({rc['methods']}), listed "
                f"{ri.get('files', 0):,} files"
                + ("" if ri.get("ok") else f" — {ri.get('problems')}")
            )
        busy = [r["machine_busy_cores"] for r in c["repoll"]["runs"]]
        cpu = [r["cpu_seconds"] / r["seconds"] for r in c["repoll"]["runs"]]
        note += (
            f"; during re-polls the machine was busy {min(busy):.1f}-{max(busy):.1f} cores "
            f"(the poll itself {min(cpu):.1f}-{max(cpu):.1f})"
        )
        wire = [r.get("wire_cpu_s") for r in c["repoll"]["runs"] if r.get("wire_cpu_s") is not None]
        if wire:
            note += f", the delay wire {statistics.median(wire):.2f} cpu-s per re-poll"
        lines.append(note)
        lines += [f"- {name}: {x}" for x in c["checks"]]
        lines += [f"- {name} (warning): {w}" for w in c["figures"]["warnings"]]
    phased = {n: c["phases"] for n, c in cases.items() if "phases" in c}
    if phased:
        cols = [
            ("import monitor.cli", "import"),
            ("crawl: requests and the rest", "crawl: HTTP and the rest"),
            ("crawl: parse pages", "crawl: parse pages"),
            ("store: current_versions", "store: load current"),
            ("store: record_poll (all)", "store: all"),
            ("wall (process)", "process wall"),
        ]
        lines += [
            "",
            "One more unchanged re-poll per case, phases timed in-process (seconds):",
            "",
            "| case | " + " | ".join(label for _, label in cols) + " |",
            "|" + " --- |" * (1 + len(cols)),
        ]
        for n, ph in phased.items():
            cells = [f"{ph[k]:.2f}" if k in ph else "-" for k, _ in cols]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    ver = results.get("monitor_version")
    if ver:
        lines.append(
            f"- `monitor --version` (CLI start-up, in every poll's wall time): "
            f"{ver['median_s']:.2f} s (cpu {ver['cpu_median_s']:.2f}), "
            f"{ver['max_rss_bytes'] / MB:.0f} MB"
        )
    lines.append(
        f"- load average: {results['load_before']} before, "
        f"{results['load_after']} after; run took {results['total_s']:.0f} s"
    )
    return "\n".join(lines)


def tool_versions() -> dict[str, str]:
    def first(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except OSError:
            return "missing"
        text = (done.stdout or done.stderr).strip().splitlines()
        return text[0] if text else "?"

    return {
        "nginx": first(["nginx", "-v"]).rsplit("/", 1)[-1],
        "rclone": first(["rclone", "version"]),
        "curl": " ".join(first(["curl", "--version"]).split()[:2]),
    }


def machine() -> dict[str, Any]:
    import platform

    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "gnu_time_for_rss": GNU_TIME is not None,
        # httpcore imports sniffio on every request; without it each is a failed import
        "sniffio_importable": subprocess.run(
            [sys.executable, "-c", "import sniffio"], capture_output=True, check=False
        ).returncode
        == 0,
        "project": git_state(),
        **tool_versions(),
    }


# -- phases of one poll, in-process (run by Case.phases as a child process) ------------------------


def phases_of(config: str) -> int:
    """Time one poll of the config's first target by phase with ``perf_counter``; print JSON.

    Like ``poll_phases.py``, it wraps functions of the project by name (``page_parser`` of
    ``monitor.sources.http``; ``current_versions``, ``compare``, ``_apply`` of ``monitor.poll``),
    so it follows the code as it is; a renamed function shows up as an AttributeError.
    """
    import asyncio

    t0 = time.perf_counter()
    import monitor.cli  # noqa: F401  (what every CLI invocation imports)
    import monitor.poll as poll
    import monitor.sources.http as http_source

    timings: dict[str, float] = {"import monitor.cli": time.perf_counter() - t0}
    from monitor.config import load_settings
    from monitor.store import open_store
    from monitor.store import queries as q

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    parser = http_source.page_parser
    http_source.page_parser = lambda zone: timed("crawl: parse pages", parser(zone))
    for name in ("current_versions", "compare", "_apply"):
        setattr(poll, name, timed(f"store: {name}", getattr(poll, name)))
    settings = load_settings(Path(config))
    target = settings.targets[0]
    start = time.perf_counter()
    store = open_store(settings.database_url)
    with store.write() as conn:
        q.register_targets(conn, [(target.name, target.kind)], poll.utc_now())
    timings["open store"] = time.perf_counter() - start

    async def one() -> None:
        source = http_source.HttpSource(target)  # type: ignore[arg-type]
        start = time.perf_counter()
        listing = await source.list()
        timings["crawl (all)"] = time.perf_counter() - start
        now = poll.utc_now()
        start = time.perf_counter()
        await asyncio.to_thread(poll.record_poll, store, target, listing, started=now, now=now)
        timings["store: record_poll (all)"] = time.perf_counter() - start

    asyncio.run(one())
    timings["crawl: requests and the rest"] = timings["crawl (all)"] - timings.get(
        "crawl: parse pages", 0.0
    )
    print(json.dumps({k: round(v, 4) for k, v in timings.items()}))
    return 0


# -- main ---------------------------------------------------------------------------------------


def _csv(choices: Sequence[str]) -> Any:
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        wrong = [x for x in items if x not in choices]
        if wrong or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
        return items

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10k files only (same as --trees 10k)")
    p.add_argument("--trees", type=_csv(list(TREES)), default=list(TREES), help="10k,100k")
    p.add_argument("--links", type=_csv(LINKS), default=list(LINKS), help="loopback,rtt")
    p.add_argument("--formats", type=_csv(FORMATS), default=list(FORMATS), help="html,json")
    p.add_argument("--rtt-ms", type=int, default=50, help="added round-trip time of 'rtt'")
    p.add_argument("--concurrency", type=int, default=16, help="the http target's concurrency")
    p.add_argument("--rate", type=float, default=10000, help="the target's rate (requests/s)")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="re-polls and runs of each reference tool (rclone runs once on 100k "
        "over the delayed link)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-rclone", action="store_true")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also run one re-poll per case under cProfile, stats into DIR",
    )
    p.add_argument("--out", type=Path, default=HERE / "results-http.json")
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder of gen_tree.py")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument(
        "--commit",
        metavar="REV",
        help="measure monitor/ as committed at REV (git archive, first on PYTHONPATH) "
        "instead of the work tree",
    )
    p.add_argument("--report", type=Path, metavar="JSON", help="print the tables of a results file")
    p.add_argument("--phases-of", metavar="CONFIG", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.trees = ["10k"]
    args.shared = args.shared.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.phases_of:
        return phases_of(args.phases_of)
    if args.report:
        saved = json.loads(args.report.read_text("utf-8"))
        figures(saved["cases"])
        print(markdown(saved))
        return 0
    for need in ("gen_tree.py", "serve_nginx.sh", "netlab.sh", "floor_urls.py"):
        if not (args.shared / need).exists():
            sys.exit(f"no {need} in {args.shared}; pass --shared DIR")
    if "rtt" in args.links and os.geteuid() != 0:
        sys.exit("the +RTT link needs root (network namespaces); or pass --links loopback")
    args.out = args.out.resolve()
    args.profile = args.profile.resolve() if args.profile else None
    home = os.getcwd()
    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    # Children start in the work folder: 'python -m' and '-c' put their working folder first
    # on sys.path, and from the repository root that would import ./monitor over --commit's.
    os.chdir(work)
    # SIGTERM / SIGHUP end the run through the finally blocks: servers stopped, link down.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _f: sys.exit(128 + n))
    for key in [k for k in os.environ if k.lower() in PROXY_VARS]:
        del os.environ[key]  # every request goes straight to our nginx
    if args.commit:
        os.environ["PYTHONPATH"] = export_commit(args.commit, work)
    else:
        byte_compile(HERE.parent / "monitor")
    env = {**os.environ, "BENCH_RUN": str(work / "run")}
    t_start = time.perf_counter()
    where = subprocess.run(
        [sys.executable, "-c", "import monitor; print(monitor.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if args.commit and not where.startswith(str(work)):
        sys.exit(f"the exported commit is not what Python imports ({where})")
    measured = {
        "commit": git_rev(args.commit or "HEAD"),
        "source": f"git archive {args.commit}" if args.commit else "work tree",
        "imported_from": where,
    }
    results: dict[str, Any] = {
        "machine": machine(),
        "measured": measured,
        "args": {
            **vars(args),
            "shared": str(args.shared),
            "out": str(args.out),
            "profile": str(args.profile) if args.profile else None,
        },
        "load_before": os.getloadavg(),
        "cases": {},
    }
    try:
        log(f"work folder {work}; load average {os.getloadavg()}")
        exe = monitor_exe()
        versions = [run([exe, "--version"])[0] for _ in range(args.repeat)]
        results["monitor_version"] = {
            "median_s": statistics.median(r.seconds for r in versions),
            "cpu_median_s": statistics.median(r.cpu_seconds for r in versions),
            "max_rss_bytes": max(r.max_rss_bytes for r in versions),
        }
        trees = {}
        for label in args.trees:
            log(f"generating the {label} tree")
            trees[label] = make_tree(args.shared, work, label, args.seed)
            results.setdefault("trees", {})[label] = {
                "files": trees[label].files,
                "dirs": trees[label].dirs,
                "bytes": trees[label].bytes,
            }
        for link_name in args.links:
            if link_name == "loopback":
                run_link(Link("loopback", None, None), trees, work, env, args, results)
                continue
            with netlab(args.shared, env, args.rtt_ms) as lab:
                results["netlab"] = lab
                log(f"netlab: {lab['mode']}")
                link = Link("rtt", CLI_NS, SRV_NS, lab.get("wire_pid"))
                run_link(link, trees, work, env, args, results)
    finally:
        results["load_after"] = os.getloadavg()
        results["total_s"] = time.perf_counter() - t_start
        results["machine"]["project_after"] = git_state()
        os.chdir(home)
        if args.keep:
            log(f"kept {work}")
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
        log(f"results in {args.out}")
    figures(results["cases"])
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(markdown(results))
    failed = any(
        c["checks"] or not all(c["figures"]["verdicts"].values()) for c in results["cases"].values()
    )
    return 1 if failed else 0


def run_link(
    link: Link,
    trees: dict[str, Tree],
    work: Path,
    env: dict[str, str],
    args: argparse.Namespace,
    results: dict[str, Any],
) -> None:
    for tree in trees.values():
        for fmt in args.formats:  # html first: the JSON case compares with its rclone time
            name = f"{tree.label}-{link.name}-{fmt}"
            with nginx(args.shared, env, name, tree.root, fmt, link.server_netns) as server:
                case = Case(tree, link, fmt, server, work, args)
                results["cases"][name] = case.go()


if __name__ == "__main__":
    sys.exit(main())
