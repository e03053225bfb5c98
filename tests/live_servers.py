"""Real directory-listing servers on 127.0.0.1, serving a tree of hostile names.

Shared by ``scripts/capture_listings.py`` (which saves their pages as the parser fixtures in
``tests/fixtures/listings/``) and ``tests/sources/test_live_crawl.py`` (which crawls them end
to end into a database), so both see the same tree and the same server settings.

- :func:`make_tree` builds the hostile tree (names that break naive URL and HTML handling,
  sizes on the servers' rounding edges, a sparse 2 GiB file, times across summer time) and
  returns the truth about it, as ``tree.json`` records it. :func:`make_decoy_tree` builds the
  decoy tree: names that imitate other servers' listing markup, and Apache ``HeaderName`` and
  ``ReadmeName`` files that imitate Apache's listing (the live crawl tests only).
- One factory per server program (:data:`SERVERS`) writes its configuration into a work folder
  and returns a :class:`Server`: the command, and the listing formats (:class:`Variant`) it
  renders on which free ports. nginx renders five formats, Apache five, Caddy two (HTML, and
  JSON when asked with ``Accept: application/json``), the others one.
- :func:`serving` starts one, waits until each of its ports answers (a poll with a deadline,
  never a fixed sleep), and stops it on the way out, whatever happens; a port taken between
  choosing it and binding it is retried with new ports. :func:`missing` names the package to
  install when a server program is not there.

Every server runs in :data:`SERVER_ZONE`. Apache and lighttpd drop to ``www-data`` when run as
root, so the tree must be readable by everyone: :func:`scratch` makes such a folder (pytest's
``tmp_path`` is not: its parents are private to the user).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: The zone every server runs in; formats that print local time print it in this zone.
SERVER_ZONE = "Europe/Berlin"
GiB = 1024**3
#: How long a server may take to listen on all its ports, and to stop.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
#: Folders where Debian puts server programs, searched when they are not on PATH.
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


class ServerError(Exception):
    """A server could not be started: it exited, or did not listen in time (log included)."""


class PortTaken(ServerError):
    """A server exited because one of its ports was taken after it was chosen."""


def at(text: str, extra_ns: int = 0) -> int:
    """Nanoseconds since the epoch of an ISO time in UTC, plus a sub-second part."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + extra_ns


# --- the hostile tree ----------------------------------------------------------------------

LONG_NAME = ("long-name-" * 20)[:196] + ".txt"
assert len(LONG_NAME) == 200

#: (path, size, mtime_ns): files of the hostile tree. Sizes sit on the servers' rounding edges.
FILES: list[tuple[str, int, int]] = [
    ("plain.txt", 1234, at("2026-11-13 09:15:07", 250_000_000)),
    ("with space.txt", 0, at("2026-11-13 09:15:59", 999_999_999)),
    ("100% done.txt", 973, at("2026-10-01 00:00:00")),
    ("%41literal.txt", 1023, at("2026-10-31 23:59:30")),
    ("a&b=c.txt", 1024, at("2026-06-15 12:30:45")),
    ("hash#tag.txt", 1536, at("2026-03-29 01:30:00")),
    ("what?.txt", 9999, at("2026-03-29 00:59:59", 1)),
    ('it\'s "quoted".txt', 10000, at("2026-10-25 00:30:00")),
    ("<script>alert(1)<\\script>.html", 12345, at("2026-10-25 01:30:00")),
    ("plus+sign;semi.txt", 99, at("2026-11-01 08:00:00")),
    ("café ñ.txt", 100, at("2026-11-02 08:00:00")),
    ("日本語.txt", 3_000_000, at("2026-11-03 08:00:00")),
    ("한국어.txt", 1024 * 1024, at("2026-11-04 08:00:00")),
    ("emoji 😀.txt", 512 * 1024 - 1, at("2026-11-05 08:00:00")),
    (LONG_NAME, 54321, at("2026-11-06 08:00:00")),
    (".hidden", 42, at("2026-11-07 08:00:00")),
    ("report.docx", 20480, at("2026-11-08 08:00:00")),
    ("sparse-2GiB.bin", 2 * GiB, at("2026-11-09 08:00:00")),
    ("old.txt", 7, at("2025-01-15 06:07:08")),
    ("summer.txt", 1_500_000, at("2026-07-04 12:00:59", 999_000_000)),
    ("dir with space & #hash?/inner.txt", 5, at("2026-11-10 10:10:10")),
    ("日本語フォルダ/한국어 파일.txt", 6, at("2026-11-11 11:11:11")),
    ("deep/er/est/file.txt", 8, at("2026-11-12 12:12:12")),
    (".hidden-dir/inside.txt", 9, at("2026-11-12 13:13:13")),
]
#: Folders, with their mtimes (set after their children are made).
FOLDERS: list[tuple[str, int]] = [
    ("empty folder", at("2026-09-09 09:09:09")),
    ("dir with space & #hash?", at("2026-09-10 10:10:10")),
    ("日本語フォルダ", at("2026-09-11 11:11:11")),
    ("deep/er/est", at("2026-09-12 12:12:12")),
    ("deep/er", at("2026-09-12 12:12:13")),
    ("deep", at("2026-09-12 12:12:14")),
    (".hidden-dir", at("2026-09-13 13:13:13")),
]


def make_tree(
    root: Path,
    files: list[tuple[str, int, int]] = FILES,
    folders: list[tuple[str, int]] = FOLDERS,
    contents: dict[str, bytes] | None = None,
) -> list[dict[str, Any]]:
    """Create a tree under ``root`` (the hostile tree unless told otherwise; a file in
    ``contents`` holds those bytes, the others zeros); return the truth about it, by path."""
    for folder, _ in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for path, size, mtime_ns in files:
        target = root / path
        with open(target, "wb") as stream:
            if contents and path in contents:
                stream.write(contents[path])
            else:
                stream.truncate(size)  # sparse: the 2 GiB file takes no disk space
        os.utime(target, ns=(mtime_ns, mtime_ns))
    for folder, mtime_ns in folders:  # deepest first, so children do not touch them again
        os.utime(root / folder, ns=(mtime_ns, mtime_ns))
    truth = []
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            os.chmod(full, 0o755 if full.is_dir() else 0o644)
            stat = full.stat()
            truth.append(
                {
                    "path": full.relative_to(root).as_posix(),
                    "type": "dir" if full.is_dir() else "file",
                    "size": None if full.is_dir() else stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                }
            )
    return sorted(truth, key=lambda entry: entry["path"])


# --- the decoy tree ------------------------------------------------------------------------

#: A folder whose listing heading reads like IIS's (``host - /path/``) on other servers.
DECOY_FOLDER = "x - "
#: Names that imitate the markup other servers' listings are recognised by.
DECOY_NAMES = [
    "<dir>",  # IIS's size column of a folder
    "[To Parent Directory]",  # IIS's parent link
    "<br>",  # IIS's line end
    "Parent Directory",  # Apache's parent row
    "?C=N;O=D",  # Apache's sort link
    "Name                    Last modified      Size  Description",  # Apache's header line
    "2026-11-13 09:15  1.2K  ",  # Apache's line after a name
    "Index of x",  # nginx's and Apache's title
    "13-Nov-2026 09:15                1234",  # nginx's line after a name
    "..>",  # nginx's and Apache's cut names
    "caddyserver.com",  # Caddy's footer
    "changeSize <size>",  # rclone's script
    "WsgiDAV",  # wsgidav's generator
    'summary="Directory Listing"',  # lighttpd's table
    "Directory listing for x",  # Python's http.server
]
#: What ``HEADER.html`` and ``README.html`` hold in the decorated folder: a table with a
#: Name column, a <pre> and a list, each in the shape of one of Apache's layouts, linking to
#: names that are not in the folder.
APACHE_HEADER = b"""<h2>Release notes</h2>
<table><tr><th>Name</th><th>Last modified</th><th>Size</th></tr>
<tr><td><a href="notes.txt">notes.txt</a></td><td>2026-01-01 00:00</td><td>1.0K</td></tr></table>
<pre>
<a href="changelog.txt">changelog.txt</a>   2026-01-01 00:00  12K  the full log
</pre>
<ul><li><a href="mirror/"> mirror/</a></li></ul>
"""
APACHE_README = b"""<pre>Name                    Last modified      Size
<a href="readme-link.txt">readme-link.txt</a>         2026-01-01 00:00  1.0K
</pre>
"""
DECOY_FILES: list[tuple[str, int, int]] = [
    *(
        (f"{DECOY_FOLDER}/{name}", 100 + index, at("2026-11-13 09:15:00"))
        for index, name in enumerate(DECOY_NAMES)
    ),
    (f"{DECOY_FOLDER}/b.txt", 1234, at("2026-11-13 09:16:00")),
    ("decorated/HEADER.html", len(APACHE_HEADER), at("2026-11-14 10:00:00")),
    ("decorated/README.html", len(APACHE_README), at("2026-11-14 10:01:00")),
    *((f"decorated/data{n}.csv", n, at(f"2026-11-14 10:0{n}:00")) for n in (2, 3, 4)),
    ("decorated/sub/in.txt", 5, at("2026-11-14 11:00:00")),
]
DECOY_FOLDERS: list[tuple[str, int]] = [
    (DECOY_FOLDER, at("2026-11-13 10:00:00")),
    ("decorated/sub", at("2026-11-14 11:00:00")),
    ("decorated", at("2026-11-14 12:00:00")),
]


def make_decoy_tree(root: Path) -> list[dict[str, Any]]:
    """Create the decoy tree under ``root``; return the truth about it, sorted by path."""
    contents = {"decorated/HEADER.html": APACHE_HEADER, "decorated/README.html": APACHE_README}
    return make_tree(root, DECOY_FILES, DECOY_FOLDERS, contents)


def folders_of(truth: list[dict[str, Any]]) -> list[str]:
    """Every folder of the tree, the root ('') first, as decoded relative paths."""
    return [""] + [e["path"] for e in truth if e["type"] == "dir"]


def url_path(folder: str) -> str:
    """The percent-encoded URL path of a folder's listing (UTF-8, trailing slash)."""
    return quote(f"/{folder}/" if folder else "/", safe="/")


@contextlib.contextmanager
def scratch(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A temporary folder that everyone may read (servers drop to www-data); removed after
    unless ``keep``."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


_GIVEN: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now and that this process has
    not handed out before (the kernel may offer the same free port twice in a row, and one
    server often takes several)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def program(name: str) -> str:
    """The path of a server program on PATH or in an sbin folder; the bare name if neither."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN])) or name


# --- the servers ---------------------------------------------------------------------------


@dataclass
class Variant:
    """One listing format a server renders: fetched from ``port`` with these headers."""

    format: str
    port: int
    zone: str = "UTC"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@dataclass
class Server:
    """A server to start: its command, and the formats it renders on which ports."""

    name: str
    command: list[str]
    variants: list[Variant]
    env: dict[str, str] = field(default_factory=dict)
    #: How to install the program when it is missing (Debian package or pip packages).
    install: str = ""


def missing(server: Server) -> str | None:
    """Why ``server`` cannot run here, naming the package to install; None when it can."""
    if shutil.which(server.command[0]) is None:
        return f"{server.name}: {server.command[0]} is not installed ({server.install})"
    return None


def nginx_server(root: Path, work: Path) -> Server:
    """nginx autoindex in five formats, one server block each."""
    variants = [
        Variant("nginx-html", free_port()),
        Variant("nginx-exact-size-off", free_port()),
        Variant("nginx-localtime", free_port(), zone=SERVER_ZONE),
        Variant("nginx-json", free_port()),
        Variant("nginx-xml", free_port()),
    ]
    options = [
        "",
        "autoindex_exact_size off;",
        "autoindex_localtime on;",
        "autoindex_format json;",
        "autoindex_format xml;",
    ]
    blocks = "\n".join(
        f"  server {{ listen 127.0.0.1:{v.port}; root {root}; autoindex on; {extra} }}"
        for v, extra in zip(variants, options, strict=True)
    )
    conf = work / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
pid {work}/nginx.pid;
error_log stderr;
events {{}}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path {work}/nginx-body;
  proxy_temp_path {work}/nginx-proxy;
  fastcgi_temp_path {work}/nginx-fastcgi;
  uwsgi_temp_path {work}/nginx-uwsgi;
  scgi_temp_path {work}/nginx-scgi;
{blocks}
}}
"""
    )
    command = [program("nginx"), "-p", str(work), "-c", str(conf), "-e", "stderr"]
    return Server("nginx", command, variants, install="apt-get install -y nginx")


APACHE_ICONS = """
Alias /icons/ "/usr/share/apache2/icons/"
<Directory "/usr/share/apache2/icons">
  Options FollowSymlinks
  AllowOverride None
  Require all granted
</Directory>
AddIconByType (TXT,/icons/text.gif) text/*
AddIcon /icons/binary.gif .bin .exe
AddIcon /icons/layout.gif .html .shtml .htm .pdf
AddIcon /icons/text.gif .txt
AddIcon /icons/back.gif ..
AddIcon /icons/folder.gif ^^DIRECTORY^^
AddIcon /icons/blank.gif ^^BLANKICON^^
DefaultIcon /icons/unknown.gif
AddDescription "The plain file, described" plain.txt
HeaderName HEADER.html
ReadmeName README.html
"""


def apache_server(root: Path, work: Path) -> Server:
    """Apache mod_autoindex: no IndexOptions, FancyIndexing, HTMLTable, Debian's default, and
    FancyIndexing without its markers (rules, sort links, icons). A folder's HEADER.html and
    README.html go above and below its listing (the hostile tree has none)."""
    variants = [
        Variant("apache-plain", free_port(), zone=SERVER_ZONE),
        Variant("apache-fancy", free_port(), zone=SERVER_ZONE),
        Variant("apache-table", free_port(), zone=SERVER_ZONE),
        Variant("apache-debian", free_port(), zone=SERVER_ZONE),
        Variant("apache-suppressed", free_port(), zone=SERVER_ZONE),
    ]
    options = [
        "",
        "IndexOptions FancyIndexing",
        "IndexOptions FancyIndexing HTMLTable",
        "IndexOptions FancyIndexing VersionSort HTMLTable NameWidth=* DescriptionWidth=* "
        "Charset=UTF-8\n  IndexIgnore .??* *~ *# RCS CVS *,v *,t",
        "IndexOptions FancyIndexing SuppressRules SuppressColumnSorting SuppressIcon",
    ]
    modules = "\n".join(
        f"LoadModule {name}_module /usr/lib/apache2/modules/mod_{name}.so"
        for name in ("mpm_event", "authz_core", "autoindex", "alias", "mime", "dir")
    )
    listens = "\n".join(f"Listen 127.0.0.1:{v.port}" for v in variants)
    hosts = "\n".join(
        f"<VirtualHost 127.0.0.1:{v.port}>\n  {extra}\n</VirtualHost>"
        for v, extra in zip(variants, options, strict=True)
    )
    conf = work / "apache2.conf"
    conf.write_text(
        f"""ServerRoot "{work}"
ServerName 127.0.0.1
DefaultRuntimeDir "{work}"
PidFile "{work}/apache2.pid"
ErrorLog "{work}/apache2-error.log"
User www-data
Group www-data
{modules}
TypesConfig /etc/mime.types
{listens}
DocumentRoot "{root}"
<Directory "/">
  AllowOverride None
  Require all denied
</Directory>
<Directory "{root}">
  Options Indexes
  AllowOverride None
  Require all granted
</Directory>
{APACHE_ICONS}
{hosts}
"""
    )
    command = [program("apache2"), "-f", str(conf), "-DFOREGROUND"]
    return Server("apache", command, variants, install="apt-get install -y apache2")


def lighttpd_server(root: Path, work: Path) -> Server:
    """lighttpd mod_dirlisting with its defaults."""
    variant = Variant("lighttpd", free_port(), zone=SERVER_ZONE)
    conf = work / "lighttpd.conf"
    conf.write_text(
        f"""server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {variant.port}
server.username = "www-data"
server.groupname = "www-data"
server.pid-file = "{work}/lighttpd.pid"
server.modules = ("mod_dirlisting")
dir-listing.activate = "enable"
dir-listing.encoding = "utf-8"
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
"""
    )
    command = [program("lighttpd"), "-D", "-f", str(conf)]
    return Server("lighttpd", command, [variant], install="apt-get install -y lighttpd")


def caddy_server(root: Path, work: Path) -> Server:
    """Caddy file_server browse: HTML, and JSON when asked with Accept: application/json."""
    port = free_port()
    variants = [
        Variant("caddy-html", port),
        Variant("caddy-json", port, headers={"Accept": "application/json"}),
    ]
    conf = work / "Caddyfile"
    conf.write_text(
        f"""{{
  admin off
  auto_https off
}}
http://127.0.0.1:{port} {{
  root * "{root}"
  file_server browse
}}
"""
    )
    env = {"HOME": str(work), "XDG_DATA_HOME": str(work), "XDG_CONFIG_HOME": str(work)}
    command = [program("caddy"), "run", "--config", str(conf), "--adapter", "caddyfile"]
    return Server("caddy", command, variants, env=env, install="apt-get install -y caddy")


def pyhttp_server(root: Path, work: Path) -> Server:
    """Python's http.server."""
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return Server(
        "pyhttp",
        [*command, "--directory", str(root)],
        [Variant("pyhttp", port)],
        install="Python's standard library",
    )


def rclone_server(root: Path, work: Path) -> Server:
    """rclone serve http over the local folder. Its folder cache is off, so a change on disk
    shows at once (by default rclone keeps a folder's listing for 5 minutes)."""
    variant = Variant("rclone", free_port(), zone=SERVER_ZONE)
    command = [program("rclone"), "serve", "http", str(root), "--addr", f"127.0.0.1:{variant.port}"]
    command += ["--read-only", "--dir-cache-time", "0s"]
    env = {"RCLONE_CONFIG": str(work / "rclone.conf")}
    return Server("rclone", command, [variant], env=env, install="apt-get install -y rclone")


def wsgidav_server(root: Path, work: Path) -> Server:
    """wsgidav (on cheroot) with its directory browser, anonymous access."""
    variant = Variant("wsgidav", free_port(), zone=SERVER_ZONE)
    command = [
        str(Path(sys.executable).with_name("wsgidav")),
        "--host=127.0.0.1",
        f"--port={variant.port}",
        f"--root={root}",
        "--auth=anonymous",
        "--no-config",
    ]
    return Server("wsgidav", command, [variant], install="pip install wsgidav cheroot")


SERVERS: list[Callable[[Path, Path], Server]] = [
    nginx_server,
    apache_server,
    lighttpd_server,
    caddy_server,
    pyhttp_server,
    rclone_server,
    wsgidav_server,
]


# --- starting and stopping -----------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: be sent SIGTERM if the process that started it dies, so a
    killed test run leaves no server behind (Linux only; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextlib.contextmanager
def serving(
    make: Callable[[Path, Path], Server], root: Path, work: Path, *, attempts: int = 3
) -> Iterator[Server]:
    """Start the server ``make`` builds, serving ``root``, with its files in ``work``; yield it
    once each of its ports answers, and stop it on the way out. When a port was taken between
    choosing it and binding it, try again with new ports (``attempts`` times in all)."""
    for attempt in range(1, attempts + 1):
        server = make(root, work)
        try:
            proc = start(server, work)
        except PortTaken:
            if attempt == attempts:
                raise
            continue
        try:
            yield server
        finally:
            stop(proc)
        return


def start(server: Server, work: Path) -> subprocess.Popen[bytes]:
    """Start ``server`` and wait until each of its ports answers; stop it if it never does."""
    log_path = work / f"{server.name}.log"
    env = {**os.environ, "TZ": SERVER_ZONE, **server.env}
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            server.command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stopped as a whole
            preexec_fn=_die_with_parent,
        )
    try:
        for variant in server.variants:
            wait_until_listening(proc, variant.port, server.name, log_path)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by :func:`start`: SIGTERM, then SIGKILL to its process group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # children it left behind (Apache's workers)
    proc.wait()


def wait_until_listening(
    proc: subprocess.Popen[bytes], port: int, name: str, log_path: Path
) -> None:
    """Poll the port until it accepts a connection; ServerError with the log if the server
    exits first (PortTaken when the log says the port was in use) or the deadline passes."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = log_path.read_text(errors="replace")
            error = PortTaken if "already in use" in log.lower() else ServerError
            raise error(f"{name} exited with {proc.returncode}:\n{log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise ServerError(f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s")
