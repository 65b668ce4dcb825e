"""The offline guard: Parley opens no connection off this device unless asked to.

Parley promises that nothing leaves the device except a download the user
started or a remote backend the user configured. A promise in the docs is easy
to break by accident (a library's telemetry, a default that names a server),
so the process enforces it: an audit hook (PEP 578) sees every socket connect,
datagram send and name lookup made from Python and

- lets loopback and local sockets (AF_UNIX) through without a word;
- lets hosts the user configured through (a remote backend, the satellites the hub
  connects to), and anything while a user-started
  download runs (hub downloads are redirected to CDN hosts), and records it;
- refuses everything else with :class:`OfflineError`, an ``OSError``, so the
  callers' usual network error handling applies, and records it.

Records are JSON lines in ``network.jsonl`` in the log folder; the window's
"Network activity" dialog lists them. Audit hooks cannot be removed, so
:func:`install` adds the hook once per process and later calls only update it.

Limits: native code that opens sockets itself (C libraries, Qt's network
classes) is not seen by the hook; tests/e2e/test_offline.py proves the whole
turn in a loopback-only network namespace for that reason.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from desktop import paths

if TYPE_CHECKING:
    from desktop.config import Settings

log = logging.getLogger(__name__)

LOG_NAME = "network.jsonl"
MAX_LOG_BYTES = 1_000_000  # then the file moves to network.jsonl.1 (one old file kept)
REFUSED_WHY = "no download or remote backend asked for it"
# Telemetry opt-outs, set for this process and its children. huggingface_hub reads
# HF_HUB_DISABLE_TELEMETRY (and DO_NOT_TRACK) when it is imported.
TELEMETRY_OFF = {"HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}

_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",  # gethostbyname_ex raises this one too
        "socket.gethostbyaddr",
    }
)
_LOCAL_NAMES = frozenset(
    {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
)
_LOCAL_FAMILIES = frozenset(
    {getattr(socket, name) for name in ("AF_UNIX", "AF_NETLINK") if hasattr(socket, name)}
)
_IP_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})


class OfflineError(OSError):
    """Parley refused a connection or lookup that would have left the device."""


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a host string spells, or None for a name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1 is loopback; 3.11 says it is not
            return ip.ipv4_mapped
    return ip


def _text(host: object) -> str:
    if isinstance(host, bytes | bytearray):
        return bytes(host).decode("idna", errors="replace")
    return "" if host is None else str(host)


def is_local(host: str) -> bool:
    """Loopback names and addresses; the unspecified address means this host too."""
    name = host.strip().lower().rstrip(".")
    if name in _LOCAL_NAMES:
        return True
    ip = _address(name)
    return ip is not None and (ip.is_loopback or ip.is_unspecified)


def _resolve(name: str) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(name, None)]


class Guard:
    """What may go out, and the record of what did. One per process (see install)."""

    def __init__(self, resolve: Callable[[str], list[str]] = _resolve) -> None:
        self.process = "parley"
        self.log_path = paths.log_dir() / LOG_NAME
        self._resolve = resolve
        self._hosts: dict[str, str] = {}  # permitted name or address -> why
        self._addresses: dict[str, str] = {}  # address a permitted name resolved to -> name
        self._downloads: list[str] = []  # reasons of the downloads running now
        self._lock = threading.RLock()
        self._local = threading.local()

    # -- what is allowed ------------------------------------------------------------------

    def permit_host(self, host: str, reason: str) -> None:
        """Let connections to a host the user chose through (and record each)."""
        key = _key(host)
        if key and not is_local(key):
            with self._lock:
                self._hosts[key] = reason

    @contextlib.contextmanager
    def allowing(self, reason: str) -> Iterator[None]:
        """Let everything through while a user-started download runs: the hub
        redirects to CDN hosts that cannot be known up front. Each one is recorded."""
        with self._lock:
            self._downloads.append(reason)
        try:
            yield
        finally:
            with self._lock:
                self._downloads.remove(reason)

    # -- the hook ---------------------------------------------------------------------------

    def check(self, event: str, args: tuple) -> None:
        """Decide one audited socket event; raises OfflineError to refuse it."""
        target = _target(event, args)
        if target is None:
            return
        kind, host, port = target
        if is_local(host):
            return
        if getattr(self._local, "busy", False):
            # Inside our own lookup or record: decide, but do not record or resolve again.
            if self._decide(host, resolve=False) is None:
                raise OfflineError(_message(kind, host, port))
            return
        self._local.busy = True
        try:
            reason = self._decide(host, resolve=True)
            self._record(kind, host, port, reason)
        finally:
            self._local.busy = False
        if reason is None:
            raise OfflineError(_message(kind, host, port))

    def _decide(self, host: str, resolve: bool) -> str | None:
        """Why this host may be reached, or None when it may not."""
        key = _key(host)
        with self._lock:
            reason = self._hosts.get(key)
            if reason is None and key in self._addresses:
                reason = self._hosts.get(self._addresses[key])
            if reason is None and self._downloads:
                reason = self._downloads[-1]
            names = [name for name in self._hosts if _address(name) is None]
        if reason is None and resolve and names and _address(key) is not None:
            self._learn_addresses(names)  # a permitted name may resolve to this address
            return self._decide(host, resolve=False)
        return reason

    def _learn_addresses(self, names: list[str]) -> None:
        for name in names:
            try:
                found = self._resolve(name)
            except OSError as exc:
                log.info("could not resolve the permitted host %s: %s", name, exc)
                continue
            with self._lock:
                for address in found:
                    self._addresses[_key(address)] = name

    # -- the record -------------------------------------------------------------------------

    def _record(self, kind: str, host: str, port: int | None, reason: str | None) -> None:
        verdict = "allowed" if reason is not None else "refused"
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "process": self.process,
            "pid": os.getpid(),
            "event": kind,
            "host": host,
            "port": port,
            "verdict": verdict,
            "reason": reason if reason is not None else REFUSED_WHY,
        }
        where = host if port is None else f"{host}:{port}"
        level = logging.INFO if reason is not None else logging.WARNING
        log.log(level, "network %s: %s %s (%s)", verdict, kind, where, entry["reason"])
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                if self.log_path.exists() and self.log_path.stat().st_size > MAX_LOG_BYTES:
                    os.replace(self.log_path, self.log_path.with_name(LOG_NAME + ".1"))
                with self.log_path.open("a", encoding="utf-8") as out:
                    out.write(line)
            except OSError as exc:  # an unwritable log folder must not stop the app
                log.warning("cannot write %s: %s", self.log_path, exc)


def _key(host: str) -> str:
    """Hosts compare case-insensitively; addresses in their canonical spelling."""
    name = host.strip().lower().rstrip(".").strip("[]")
    ip = _address(name)
    return str(ip) if ip is not None else name


def _target(event: str, args: tuple) -> tuple[str, str, int | None] | None:
    """(kind, host, port) of an event that could leave the device, else None."""
    if event == "socket.getaddrinfo" or event == "socket.gethostbyname":
        host = _text(args[0])
        if _address(host.strip("[]")) is not None:
            return None  # a numeric address: no lookup happens; the connect is checked
        port = _port(args[1]) if event == "socket.getaddrinfo" else None
        return "lookup", host, port
    if event == "socket.gethostbyaddr":
        return "lookup", _text(args[0]), None  # a reverse lookup asks the DNS server
    sock, address = args
    if address is None:
        return None  # sendmsg on a connected socket: its connect was checked
    family = getattr(sock, "family", None)
    if family in _LOCAL_FAMILIES:
        return None
    kind = "connect" if event == "socket.connect" else "send"
    if family in _IP_FAMILIES and isinstance(address, tuple) and len(address) >= 2:
        return kind, _text(address[0]), _port(address[1])
    return kind, repr(address), None  # another family: refused unless allowed


def _port(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _message(kind: str, host: str, port: int | None) -> str:
    where = host if port is None else f"{host}:{port}"
    if kind == "lookup" and port is not None:
        kind = "connect"  # getaddrinfo(host, port) is how a connection starts
    action = {"connect": "a connection to", "send": "sending to"}.get(kind, "a name lookup of")
    return f"Parley is offline: refused {action} {where} ({REFUSED_WHY})"


# -- the process-wide guard ---------------------------------------------------------------

_guard = Guard()
_hooked = False
_hook_lock = threading.Lock()


def _hook(event: str, args: tuple) -> None:
    if event in _EVENTS:  # every audited event lands here: return at once for the rest
        _guard.check(event, args)


def install(process: str, settings: Settings | None = None) -> Guard:
    """Start guarding this process (idempotent: later calls update the name and hosts).

    ``process`` names it in the record: "window", "engine" or "cli".
    """
    global _hooked
    for name, value in TELEMETRY_OFF.items():
        os.environ[name] = value
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # imported already: it read the environment too early
        constants.HF_HUB_DISABLE_TELEMETRY = True
    _guard.process = process
    _guard.log_path = paths.log_dir() / LOG_NAME
    if settings is not None and settings.remote_url:
        permit_url(settings.remote_url, "the remote backend in the settings")
    for uri in settings.satellites if settings is not None else ():
        permit_url(uri, "a satellite in the settings")
    with _hook_lock:
        if not _hooked:
            sys.addaudithook(_hook)
            _hooked = True
    return _guard


def installed() -> bool:
    return _hooked


def permit_host(host: str, reason: str) -> None:
    """Let connections to a host the user configured through, each one recorded."""
    _guard.permit_host(host, reason)


def permit_url(url: str, reason: str) -> None:
    """permit_host for the host of a URL (http://big-pc.local:8080 -> big-pc.local)."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return
    if host:
        _guard.permit_host(host, reason)


def allowing(reason: str) -> contextlib.AbstractContextManager[None]:
    """``with allowing("download of X"):`` lets everything out while a user-started
    download runs, recording each connection with that reason."""
    return _guard.allowing(reason)


def log_path() -> Path:
    return paths.log_dir() / LOG_NAME


def read_log(path: Path | None = None) -> list[dict]:
    """Every record, oldest first (the rotated file first); broken lines are skipped."""
    path = path or log_path()
    entries: list[dict] = []
    for part in (path.with_name(path.name + ".1"), path):
        try:
            lines = part.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    return entries
