"""Who may talk to ``parley serve``: a bearer token, and only this machine's own names.

The token keeps other local programs and other users out; the Host and Origin
checks stop a web page in the user's browser from reaching the server through
DNS rebinding (a hostile name that resolves to 127.0.0.1) or a cross-site
request. Everything here runs before a request touches a model.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import secrets
from pathlib import Path

from desktop import paths
from desktop.errors import ConfigError, ParleyError

log = logging.getLogger(__name__)

TOKEN_FILE_NAME = "serve-token"
MIN_TOKEN_LENGTH = 16  # a shorter file was not written by Parley: make a new token


def token_path() -> Path:
    return paths.config_dir() / TOKEN_FILE_NAME


def load_or_create_token(path: Path | None = None) -> str:
    """The saved token, or a new one saved with owner-only permissions (0600)."""
    path = path or token_path()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the API token file {path}: {exc}") from exc
    if len(token) >= MIN_TOKEN_LENGTH:
        _keep_private(path)
        return token
    return _write_new_token(path)


def _keep_private(path: Path) -> None:
    """A token file others can read is no secret: take their access away."""
    if os.name != "posix":
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); setting it to 600", path, mode)
        try:
            path.chmod(0o600)
        except OSError as exc:
            raise ConfigError(
                f"the API token file {path} is readable by other users and cannot be fixed: "
                f"{exc.strerror or exc}",
                "delete it; parley serve makes a new one",
            ) from exc


def _write_new_token(path: Path) -> str:
    """Write to a private temporary file, then rename: never a moment readable by others,
    and never a half-written token."""
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # the umask may have taken the owner's bits away
            os.write(fd, f"{token}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the API token file {path}: {exc.strerror or exc}") from exc
    log.info("created a new API token in %s", path)
    return token


def is_loopback(host: str) -> bool:
    """True only for names that cannot leave this machine; a host name other than
    localhost counts as reachable from outside (it may resolve anywhere)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_no_auth_allowed(host: str) -> None:
    """--no-auth is for this machine only: anyone on the network could use the models."""
    if not is_loopback(host):
        raise ParleyError(
            f"--no-auth is refused on {host}: that address is reachable from other machines",
            "bind 127.0.0.1, the default, or drop --no-auth and use the token",
        )


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_hosts(bound_host: str, port: int) -> frozenset[str]:
    """Host headers that name this server; anything else is a rebinding attempt."""
    names = {"127.0.0.1", "localhost", "::1", bound_host}
    return frozenset(_host_port(name, port).lower() for name in names)


def allowed_origins(port: int) -> frozenset[str]:
    """Browser origins that are this server itself."""
    return frozenset(f"http://{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]"))


def bearer_matches(header: str | None, token: str) -> bool:
    """``Authorization: Bearer TOKEN``, compared in constant time."""
    if not header:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))
