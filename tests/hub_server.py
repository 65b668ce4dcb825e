"""A local stand-in for the Hugging Face hub's file endpoints, with faults on demand.

It answers ``HEAD`` and ``GET /{owner}/{repo}/resolve/{revision}/{path}`` with
the headers huggingface_hub reads (``X-Repo-Commit``, ``ETag``,
``X-Linked-Etag``, ``X-Linked-Size``, ``Content-Length``, ``Accept-Ranges``),
honours ``Range: bytes=N-`` with 206, and says 404 with the hub's
``X-Error-Code`` for what it does not hold. LFS files carry their sha256 as
the etag, as on the hub; plain git files carry their git blob sha1. With
``cdn=True`` an LFS file answers 302 to ``/cdn/{sha256}`` on ``localhost``
(another origin), the way the hub hands large files to its CDN.

Faults, switched per test: drop the connection after N body bytes (a few
times, or always), flip a byte of the body, advertise a wrong sha256, ignore
Range headers (as some CDNs do), and throttle the transfer so a test can pause it midway. Every request is logged
(method, path, Range header) and body bytes are counted, so a test can prove
a resume happened.

Point ``HF_ENDPOINT`` at ``.url``. Nothing here reaches the internet.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "c0ffee" + "0" * 34  # what X-Repo-Commit says for every repo
BLOCK = 64 * 1024
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")
_CDN = re.compile(r"^/cdn/(?P<sha>[0-9a-f]{64})$")


@dataclass(frozen=True)
class HubFile:
    """One file the stand-in serves: from a path on disk or from bytes."""

    source: Path | bytes
    size: int
    sha256: str
    git_sha1: str
    lfs: bool

    def read(self, start: int, end: int) -> bytes:
        if isinstance(self.source, bytes):
            return self.source[start:end]
        with open(self.source, "rb") as f:
            f.seek(start)
            return f.read(end - start)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None


def hub_file(source: Path | bytes, *, lfs: bool = True) -> HubFile:
    """Describe a file to serve, hashing it once the way the hub does."""
    sha, git = hashlib.sha256(), hashlib.sha1()
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    git.update(b"blob %d\0" % size)
    if isinstance(source, bytes):
        sha.update(source)
        git.update(source)
    else:
        with open(source, "rb") as f:
            while block := f.read(1 << 20):
                sha.update(block)
                git.update(block)
    return HubFile(source, size, sha.hexdigest(), git.hexdigest(), lfs)


class HubServer:
    """The stand-in hub: a ThreadingHTTPServer on 127.0.0.1, in a background thread."""

    def __init__(self, *, cdn: bool = False) -> None:
        self.cdn = cdn
        self.files: dict[tuple[str, str], HubFile] = {}
        self.revisions = {"main", COMMIT}
        # fault switches
        self.drop_after: int | None = None  # body bytes sent before the connection is cut
        self.drops_left = 0  # how many responses to cut; -1 = every one
        self.corrupt = False  # flip one byte in the middle of each file
        self.wrong_sha256 = False  # advertise a sha256 the bytes do not have
        self.rate: float | None = None  # body bytes a second
        self.ignore_range = False  # answer a Range request with the whole file (200)
        # what happened
        self.requests: list[Request] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set up

    def add(self, repo: str, path: str, source: Path | bytes, *, lfs: bool = True) -> HubFile:
        """Serve source as ``path`` in ``repo``; returns what was registered."""
        self.files[(repo, path)] = hub_file(source, lfs=lfs)
        return self.files[(repo, path)]

    def drop(self, after_bytes: int, times: int = 1) -> None:
        """Cut the next ``times`` GET bodies after ``after_bytes`` bytes (times=-1: all)."""
        self.drop_after, self.drops_left = after_bytes, times

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def ranges(self) -> list[str]:
        """The Range headers of every GET, in order."""
        return [r.range for r in self.requests if r.method == "GET" and r.range]

    def gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET"]

    # -- life cycle

    def start(self) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers

    def _advertised_sha256(self, f: HubFile) -> str:
        return hashlib.sha256(b"not the file").hexdigest() if self.wrong_sha256 else f.sha256

    def _take_drop(self) -> int | None:
        """Body bytes this response may send before it is cut, or None."""
        with self._lock:
            if self.drop_after is None or self.drops_left == 0:
                return None
            if self.drops_left > 0:
                self.drops_left -= 1
            return self.drop_after

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the hub; every answer has a length
    hub: HubServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base signature
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        hub = self.hub
        hub.requests.append(Request(self.command, self.path, self.headers.get("Range")))
        cdn = _CDN.match(self.path)
        if cdn:
            found = [f for f in hub.files.values() if f.sha256 == cdn["sha"]]
            if not found:
                return self._error(404, "EntryNotFound")
            return self._send_file(found[0], body, {"ETag": f'"{found[0].sha256}"'})
        match = _RESOLVE.match(self.path)
        if not match:
            return self._error(404, "RepoNotFound")
        repo, revision, path = match["repo"], unquote(match["revision"]), unquote(match["path"])
        if not any(r == repo for r, _ in hub.files):
            return self._error(404, "RepoNotFound")
        if revision not in hub.revisions:
            return self._error(404, "RevisionNotFound")
        f = hub.files.get((repo, path))
        if f is None:
            return self._error(404, "EntryNotFound", {"X-Repo-Commit": COMMIT})
        headers = {"X-Repo-Commit": COMMIT}
        if not f.lfs:
            headers["ETag"] = f'"{f.git_sha1}"'
            return self._send_file(f, body, headers)
        sha = hub._advertised_sha256(f)
        headers |= {"ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(f.size)}
        if hub.cdn:
            port = self.server.server_address[1]
            headers["Location"] = f"http://localhost:{port}/cdn/{f.sha256}"
            return self._send(302, headers | {"Content-Length": "0"})
        return self._send_file(f, body, headers)

    def _error(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
        text = f"{code}\n".encode()
        self._send(
            status, (headers or {}) | {"X-Error-Code": code, "Content-Length": str(len(text))}
        )
        if self.command == "GET":
            self.wfile.write(text)

    def _send(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _send_file(self, f: HubFile, body: bool, headers: dict[str, str]) -> None:
        wanted = None if self.hub.ignore_range else _byte_range(self.headers.get("Range"), f.size)
        headers = headers | {"Accept-Ranges": "bytes"}
        if wanted is None:
            start, end, status = 0, f.size, 200
        elif wanted[0] >= f.size:
            headers |= {"Content-Range": f"bytes */{f.size}", "Content-Length": "0"}
            return self._send(416, headers)
        else:
            (start, end), status = wanted, 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
        self._send(status, headers | {"Content-Length": str(end - start)})
        if body:
            self._stream(f, start, end)

    def _stream(self, f: HubFile, start: int, end: int) -> None:
        """Send bytes [start, end), with whatever faults are switched on."""
        hub = self.hub
        limit = hub._take_drop()
        sent, pos = 0, start
        try:
            while pos < end:
                block = bytearray(f.read(pos, min(pos + BLOCK, end)))
                if hub.corrupt and pos <= f.size // 2 < pos + len(block):
                    block[f.size // 2 - pos] ^= 0xFF
                if limit is not None and sent + len(block) > limit:
                    block = block[: max(limit - sent, 0)]
                self.wfile.write(block)
                hub._count(len(block))
                sent, pos = sent + len(block), pos + len(block)
                if limit is not None and sent >= limit:
                    return self._cut()
                if hub.rate:
                    time.sleep(len(block) / hub.rate)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _cut(self) -> None:
        """Drop the connection mid-body, as a flaky network would."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _byte_range(value: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) from ``bytes=N-`` or ``bytes=N-M``; None for no (or an unparsed) Range."""
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", (value or "").strip())
    if not match:
        return None
    start = int(match[1])
    end = min(int(match[2]) + 1, size) if match[2] else size
    return start, max(end, start)
