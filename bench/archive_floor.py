"""The floors under the archive's small-file figure, measured beside curl in one run.

The archive's contract asks for >= 0.8x the throughput of curl fetching the same files. For
many small files (the ``small`` case of ``archive.py``: 2,000 x 64 KiB on loopback nginx),
this measures what the steps an archive cannot skip cost on this machine, each on its own,
interleaved with curl, round after round:

1. ``curl`` to files (the reference) and to ``/dev/null``: wall and CPU, and the CPU nginx's
   workers spent serving curl's run (``/proc/PID/stat``);
2. **fetch**: the least an asyncio client in this Python can do — a fresh interpreter, 8
   kept-alive connections, one ``GET`` per file, the body framed by ``Content-Length`` read
   into memory and dropped; no other header read, nothing recorded (the stock event loop,
   as ``monitor`` runs);
3. **hash**: SHA-256 of the 2,000 bodies (hashlib, one thread);
4. **store**: the archive's own blob store (``LocalBlobStore.put_many``, then ``sync``)
   taking the 2,000 bodies into a new folder: create, write, rename, made durable;
5. **archive**: ``monitor poll`` with archiving on (its JSON's ``archive.seconds``), as
   ``archive.py`` runs it.

Then: the budget (curl's seconds / 0.8), and the least wall time the steps' CPU allows on
this machine's cores even perfectly parallel: (fetch + hash + store + nginx's CPU) / cores.
When that exceeds the budget, no implementation made of these steps in this stack meets the
ratio on this machine, whatever it does around them.

Run from the repository root, as root (nginx), after ``archive.py`` made the tree::

    python bench/archive_floor.py --times 5 --out /var/tmp/floor.json
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive import (
    CONCURRENCY,
    DEFAULT_SHARED,
    RATIO,
    Runs,
    Tree,
    curl,
    curl_list,
    http_target,
    make_tree,
    monitor_round,
    nginx_start,
    nginx_stop,
)
from engine import free_port, git_state, log, machine, monitor_exe, run

TICK = os.sysconf("SC_CLK_TCK")


def _cpu() -> float:
    """User + system CPU of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Reader(asyncio.Protocol):
    """The least an HTTP/1.1 client reads: the head's end and its Content-Length."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.end = 0
        self.start = 0

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.check()

    def check(self) -> None:
        if self.waiter is None:
            return
        if not self.end:
            blank = self.buffer.find(b"\r\n\r\n")
            if blank < 0:
                return
            head = bytes(self.buffer[:blank]).lower()
            length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            self.start, self.end = blank + 4, blank + 4 + length
        if len(self.buffer) >= self.end:
            body = bytes(self.buffer[self.start : self.end])
            del self.buffer[: self.end]
            self.end = 0
            waiter, self.waiter = self.waiter, None
            waiter.set_result(body)


async def _fetch_all(host: str, port: int, paths: list[str], keep: list[bytes]) -> None:
    loop = asyncio.get_running_loop()
    todo = list(reversed(paths))

    async def worker() -> None:
        transport, reader = await loop.create_connection(_Reader, host, port)
        while todo:
            path = todo.pop()
            reader.waiter = loop.create_future()
            transport.write(b"GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), b"bench"))
            reader.check()
            keep.append(await reader.waiter)
        transport.close()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def child(base: str, paths_file: Path, store_dir: Path) -> dict[str, float]:
    """Steps 2-4 in this (fresh) interpreter; seconds and CPU seconds of each."""
    here = Path(__file__).resolve().parent  # its http.py is not the standard library's
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from monitor.archive.blobs.local import LocalBlobStore

    host, port = base.split("//")[1].rstrip("/").split(":")
    paths = paths_file.read_text().split()
    bodies: list[bytes] = []
    c0, t0 = _cpu(), time.perf_counter()
    asyncio.run(_fetch_all(host, int(port), paths, bodies))
    c1, t1 = _cpu(), time.perf_counter()
    hashes = [hashlib.sha256(body).hexdigest() for body in bodies]
    c2, t2 = _cpu(), time.perf_counter()
    store = LocalBlobStore(store_dir)

    async def put() -> None:
        await store.put_many(list(zip(hashes, bodies, strict=True)))
        await store.sync()

    asyncio.run(put())
    c3, t3 = _cpu(), time.perf_counter()
    if len(bodies) != len(paths):
        raise RuntimeError(f"fetched {len(bodies)} of {len(paths)}")
    return {
        "fetch_s": t1 - t0, "fetch_cpu_s": c1 - c0,
        "hash_s": t2 - t1, "hash_cpu_s": c2 - c1,
        "store_s": t3 - t2, "store_cpu_s": c3 - c2,
    }  # fmt: skip


def nginx_workers(port: int) -> list[int]:
    """The worker processes of the nginx that ``archive.nginx_start`` started on ``port``."""
    mark = f"nginx-archive-{port}".encode()
    masters, workers = set(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if cmdline.startswith(b"nginx: master") and mark in cmdline:
            masters.add(int(entry.name))
        elif cmdline.startswith(b"nginx: worker"):
            workers.append((int(entry.name), ppid))
    return [pid for pid, ppid in workers if ppid in masters]


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def one_round(exe: str, tree: Tree, base: str, port: int, runs: Runs) -> dict[str, float]:
    workers = nginx_workers(port)
    n0 = cpu_of(workers)
    c = curl(curl_list(runs.root.parent / "curl-files.cfg", base, tree, runs.new("curl")))
    nginx_cpu = cpu_of(workers) - n0
    null = curl(curl_list(runs.root.parent / "curl-null.cfg", base, tree, None))
    paths = runs.new("paths") / "paths.txt"
    paths.write_text("\n".join(tree.paths) + "\n")
    store = runs.new("store")
    me = [sys.executable, str(Path(__file__).resolve()), "--child", base, str(paths), str(store)]
    steps = json.loads(run(me).stdout)
    _, archive = monitor_round(exe, runs.new("monitor"), http_target(base), tree)
    return {
        "curl_s": c.seconds,
        "curl_cpu_s": c.cpu_seconds,
        "curl_null_s": null.seconds,
        "nginx_cpu_s": nginx_cpu,
        **steps,
        "archive_s": float(archive["seconds"]),
    }


def summary(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = rounds[0].keys()
    med = {key: float(statistics.median(r[key] for r in rounds)) for key in keys}
    cores = os.cpu_count() or 1
    steps_cpu = med["fetch_cpu_s"] + med["hash_cpu_s"] + med["store_cpu_s"] + med["nginx_cpu_s"]
    med["budget_s"] = med["curl_s"] / RATIO
    med["least_s"] = max(steps_cpu / cores, med["fetch_s"])
    med["cores"] = cores
    return med


def markdown(s: dict[str, float]) -> str:
    rows = [
        ("curl to files (reference)", s["curl_s"], s["curl_cpu_s"]),
        ("curl to /dev/null", s["curl_null_s"], None),
        ("nginx workers, serving curl's run", None, s["nginx_cpu_s"]),
        ("fetch: bare asyncio client, bodies into memory", s["fetch_s"], s["fetch_cpu_s"]),
        ("hash: SHA-256 of the bodies", s["hash_s"], s["hash_cpu_s"]),
        ("store: `put_many` + `sync` (create, write, rename)", s["store_s"], s["store_cpu_s"]),
        ("archive (`monitor poll`, `archive.seconds`)", s["archive_s"], None),
    ]
    lines = ["| step (2,000 x 64 KiB) | seconds | CPU seconds |", "| --- | ---: | ---: |"]
    for name, wall, cpu in rows:
        shown = [f"{v:.3f}" if v is not None else "-" for v in (wall, cpu)]
        lines.append(f"| {name} | {shown[0]} | {shown[1]} |")
    lines.append(
        f"\nBudget at {RATIO}x of curl: {s['budget_s']:.3f} s. Least wall time of fetch + hash + "
        f"store + nginx's CPU on {s['cores']:.0f} cores, perfectly parallel: "
        f"{s['least_s']:.3f} s ({'over' if s['least_s'] > s['budget_s'] else 'within'} the "
        f"budget). The archive: {s['curl_s'] / s['archive_s']:.2f}x of curl."
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--times", type=int, default=5)
    p.add_argument("--work", type=Path, default=Path("/var/tmp/archive-bench"))
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--child", nargs=3, metavar=("BASE", "PATHS", "STORE"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        base, paths, store = args.child
        print(json.dumps(child(base, Path(paths), Path(store))))
        return 0
    exe = monitor_exe()
    work = args.work
    env = {**os.environ, "BENCH_RUN": str(work / "run")}
    tree = make_tree(work, "small")
    port = free_port(19060)
    base = nginx_start(args.shared, env, tree.root, port)
    runs = Runs(work)
    rounds = []
    try:
        for n in range(args.times):
            r = one_round(exe, tree, base, port, runs)
            rounds.append(r)
            log(f"round {n + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()))
    finally:
        nginx_stop(args.shared, env, port)
        runs.remove()
    result = {"git": git_state(), "machine": machine(), "rounds": rounds, **summary(rounds)}
    print(markdown(summary(rounds)))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
