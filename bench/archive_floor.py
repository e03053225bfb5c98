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
   taking the 2,000 bodies into a new folder: create, write, rename, made durable; and the
   **bare store**: those system calls alone in a loop (:func:`bare_store`);
5. **lanes**: those steps together, on every core, and nothing else: N processes (stdlib
   only, started before the clock), each with 1/N of the files and of the 8 connections,
   fetching, hashing and storing each body as it comes (the bare store's calls), then one
   ``sync``; N is the number of cores and twice it (``O_DIRECT`` writes wait for the device:
   more lanes overlap the waits), the quicker kept. No headers read, no provenance, no
   database, no retries: the skeleton any small-file archive in this Python is built on;
6. **archive**: ``monitor poll`` with archiving on (its JSON's ``archive.seconds``), as
   ``archive.py`` runs it.

Then: the budget (curl's seconds / 0.8); the least wall time the steps' CPU allows on this
machine's cores even perfectly parallel, (fetch + hash + store + nginx's CPU) / cores; and the
lanes' ratio to curl, measured. When the lanes miss the budget, no implementation made of these
steps in this stack meets the ratio on this machine, whatever it does around them.

Run from the repository root, as root (nginx), after ``archive.py`` made the tree::

    python bench/archive_floor.py --times 5 --out /var/tmp/floor.json
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import mmap
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
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


async def _fetch_all(
    host: str, port: int, paths: list[str], take: Callable[[bytes], object], connections: int
) -> None:
    """GET each of ``paths`` over ``connections`` kept-alive connections; each body to ``take``."""
    loop = asyncio.get_running_loop()
    todo = list(reversed(paths))

    async def worker() -> None:
        transport, reader = await loop.create_connection(_Reader, host, port)
        while todo:
            path = todo.pop()
            reader.waiter = loop.create_future()
            transport.write(b"GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), b"bench"))
            reader.check()
            take(await reader.waiter)
        transport.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


class _BareStore:
    """The system calls of a durable content-addressed store and nothing else: create
    (``O_DIRECT``) in a staging folder, write from an aligned buffer, cut to size, close,
    rename into ``ab/<sha256>``. Made durable by the caller (one ``sync``)."""

    def __init__(self, root: Path) -> None:
        (root / "tmp").mkdir(parents=True)
        self.root = str(root)
        self.buffer = mmap.mmap(-1, 1 << 20)
        self.flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_DIRECT", 0)
        self.made: set[str] = set()

    def put(self, sha: str, body: bytes) -> None:
        size = len(body)
        self.buffer[:size] = body
        temp = f"{self.root}/tmp/{sha}"
        fd = os.open(temp, self.flags, 0o440)
        os.write(fd, memoryview(self.buffer)[: (size + 4095) & ~4095])
        os.ftruncate(fd, size)
        os.close(fd)
        if sha[:2] not in self.made:
            os.makedirs(f"{self.root}/{sha[:2]}", exist_ok=True)
            self.made.add(sha[:2])
        os.rename(temp, f"{self.root}/{sha[:2]}/{sha}")


def child(base: str, paths_file: Path, store_dir: Path) -> dict[str, float]:
    """Steps 2-4 in this (fresh) interpreter; seconds and CPU seconds of each."""
    here = Path(__file__).resolve().parent  # its http.py is not the standard library's
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from monitor.archive.blobs.local import LocalBlobStore

    host, port = base.split("//")[1].rstrip("/").split(":")
    paths = paths_file.read_text().split()
    bodies: list[bytes] = []
    c0, t0 = _cpu(), time.perf_counter()
    asyncio.run(_fetch_all(host, int(port), paths, bodies.append, CONCURRENCY))
    c1, t1 = _cpu(), time.perf_counter()
    hashes = [hashlib.sha256(body).hexdigest() for body in bodies]
    c2, t2 = _cpu(), time.perf_counter()
    store = LocalBlobStore(store_dir)

    async def put() -> None:
        await store.put_many(list(zip(hashes, bodies, strict=True)))
        await store.sync()

    asyncio.run(put())
    c3, t3 = _cpu(), time.perf_counter()
    bare_store(store_dir.with_name(store_dir.name + "-bare"), hashes, bodies)
    c4, t4 = _cpu(), time.perf_counter()
    if len(bodies) != len(paths):
        raise RuntimeError(f"fetched {len(bodies)} of {len(paths)}")
    return {
        "fetch_s": t1 - t0, "fetch_cpu_s": c1 - c0,
        "hash_s": t2 - t1, "hash_cpu_s": c2 - c1,
        "store_s": t3 - t2, "store_cpu_s": c3 - c2,
        "bare_store_s": t4 - t3, "bare_store_cpu_s": c4 - c3,
    }  # fmt: skip


def bare_store(root: Path, hashes: list[str], bodies: list[bytes]) -> None:
    """:class:`_BareStore` taking the bodies one after the other, one thread; one ``sync``."""
    store = _BareStore(root)
    for sha, body in zip(hashes, bodies, strict=True):
        store.put(sha, body)
    os.sync()


def lane(base: str, paths_file: Path, root: Path, connections: int) -> dict[str, float]:
    """One lane of :func:`lanes` in this (fresh) interpreter, started by a line on stdin."""
    host, port = base.split("//")[1].rstrip("/").split(":")
    paths = paths_file.read_text().split()
    store = _BareStore(root)

    def keep(body: bytes) -> None:  # hashed and stored as it comes, on the loop
        store.put(hashlib.sha256(body).hexdigest(), body)

    print("ready", flush=True)
    sys.stdin.readline()
    c0, t0 = _cpu(), time.perf_counter()
    asyncio.run(_fetch_all(host, int(port), paths, keep, connections))
    return {"start": t0, "end": time.perf_counter(), "cpu": _cpu() - c0}


def lanes(base: str, paths: list[str], folder: Path, count: int) -> dict[str, float]:
    """The whole small-file archive with nothing but its unavoidable steps, on every core:
    ``count`` processes (stdlib only, started and ready before the clock starts), each with
    its share of the files and of the connections, each fetching, hashing and storing every
    body as it comes; then one ``sync``. Wall time from the first lane's start to the sync's
    end; CPU of the lanes."""
    import subprocess

    procs = []
    for n in range(count):
        share = folder / f"paths-{n}.txt"
        share.write_text("\n".join(paths[n::count]) + "\n")
        me = [sys.executable, str(Path(__file__).resolve()), "--lane", base, str(share),
              str(folder / f"store-{n}"), str(CONCURRENCY // count)]  # fmt: skip
        procs.append(subprocess.Popen(me, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    ends = [json.loads(proc.communicate()[0]) for proc in procs]
    os.sync()
    done = time.perf_counter()
    if any(proc.returncode for proc in procs):
        raise RuntimeError("a lane failed")
    start = min(e["start"] for e in ends)
    return {"lanes_s": done - start, "lanes_cpu_s": sum(e["cpu"] for e in ends)}


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
    cores = os.cpu_count() or 1
    tries = [lanes(base, tree.paths, runs.new("lanes"), n) for n in (cores, 2 * cores)]
    parallel = min(tries, key=lambda t: t["lanes_s"])  # more lanes overlap O_DIRECT's waits
    _, archive = monitor_round(exe, runs.new("monitor"), http_target(base), tree)
    return {
        "curl_s": c.seconds,
        "curl_cpu_s": c.cpu_seconds,
        "curl_null_s": null.seconds,
        "nginx_cpu_s": nginx_cpu,
        **steps,
        **parallel,
        "archive_s": float(archive["seconds"]),
    }


def summary(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = rounds[0].keys()
    med = {key: float(statistics.median(r[key] for r in rounds)) for key in keys}
    cores = os.cpu_count() or 1
    floor_cpu = med["fetch_cpu_s"] + med["hash_cpu_s"] + med["nginx_cpu_s"]
    med["budget_s"] = med["curl_s"] / RATIO
    med["least_s"] = max((floor_cpu + med["store_cpu_s"]) / cores, med["fetch_s"])
    med["least_bare_s"] = max((floor_cpu + med["bare_store_cpu_s"]) / cores, med["fetch_s"])
    med["cores"] = cores
    # Ratios round by round (curl and the rest ran within seconds of each other), then the
    # median: the machine's speed moves by 2-4x between rounds.
    quiet = min(rounds, key=lambda r: r["curl_s"])  # curl's quickest: the machine quietest
    for key in ("lanes", "archive"):
        med[f"{key}_ratio"] = statistics.median(r["curl_s"] / r[f"{key}_s"] for r in rounds)
        med[f"{key}_ratio_quiet"] = quiet["curl_s"] / quiet[f"{key}_s"]
    return med


def markdown(s: dict[str, float]) -> str:
    rows = [
        ("curl to files (reference)", s["curl_s"], s["curl_cpu_s"]),
        ("curl to /dev/null", s["curl_null_s"], None),
        ("nginx workers, serving curl's run", None, s["nginx_cpu_s"]),
        ("fetch: bare asyncio client, bodies into memory", s["fetch_s"], s["fetch_cpu_s"]),
        ("hash: SHA-256 of the bodies", s["hash_s"], s["hash_cpu_s"]),
        ("store: `put_many` + `sync` (create, write, rename)", s["store_s"], s["store_cpu_s"]),
        (
            "bare store: the same system calls alone, one thread",
            s["bare_store_s"],
            s["bare_store_cpu_s"],
        ),
        (
            f"lanes: fetch + hash + bare store per body in {s['cores']:.0f} or "
            f"{2 * s['cores']:.0f} processes (the quicker), then sync",
            s["lanes_s"],
            s["lanes_cpu_s"],
        ),
        ("archive (`monitor poll`, `archive.seconds`)", s["archive_s"], None),
    ]
    lines = ["| step (2,000 x 64 KiB) | seconds | CPU seconds |", "| --- | ---: | ---: |"]
    for name, wall, cpu in rows:
        shown = [f"{v:.3f}" if v is not None else "-" for v in (wall, cpu)]
        lines.append(f"| {name} | {shown[0]} | {shown[1]} |")
    budget = s["budget_s"]

    def verdict(seconds: float) -> str:
        return f"{seconds:.3f} s ({'over' if seconds > budget else 'within'} the budget)"

    lines.append(
        f"\nBudget at {RATIO}x of curl: {budget:.3f} s. Least wall time of the CPU of fetch + "
        f"hash + store + nginx on {s['cores']:.0f} cores, perfectly parallel and nothing else: "
        f"{verdict(s['least_s'])}; with the bare store: {verdict(s['least_bare_s'])}. "
        f"Measured, round by round (median; in curl's quickest round): the lanes "
        f"{s['lanes_ratio']:.2f}x ({s['lanes_ratio_quiet']:.2f}x) of curl, the archive "
        f"{s['archive_ratio']:.2f}x ({s['archive_ratio_quiet']:.2f}x)."
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--times", type=int, default=5)
    p.add_argument("--work", type=Path, default=Path("/var/tmp/archive-bench"))
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--child", nargs=3, metavar=("BASE", "PATHS", "STORE"), help=argparse.SUPPRESS)
    p.add_argument(
        "--lane", nargs=4, metavar=("BASE", "PATHS", "STORE", "N"), help=argparse.SUPPRESS
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        base, paths, store = args.child
        print(json.dumps(child(base, Path(paths), Path(store))))
        return 0
    if args.lane:
        base, paths, store, connections = args.lane
        print(json.dumps(lane(base, Path(paths), Path(store), int(connections))))
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
