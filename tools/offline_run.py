"""Run a command with no network but loopback: the offline proof's room.

    python tools/offline_run.py [--or-run-plain] [--] COMMAND [ARG...]

The command runs in a new network namespace whose only interface is ``lo``
(brought up here), so any attempt to reach another host fails with "network
is unreachable", whether it comes from Python or from native code that the
offline guard's audit hook cannot see. Used by tests/e2e/test_offline.py, and
for ``python tools/offline_run.py make test``.

As root the namespace is made directly; otherwise through a user namespace
that maps only the caller's own uid (where the kernel allows that). Exit
status: the command's own; 77 when no namespace could be made (one line on
stderr says why), unless ``--or-run-plain`` runs the command normally instead.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sH22x"  # struct ifreq: the name, then the flags in a 24-byte union
NO_NAMESPACE = 77  # automake's "skipped": distinct from a failing command's 1 or 2
MARKER = "PARLEY_OFFLINE_NAMESPACE"  # set to 1 for the command, so tests can tell


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def unshare_network() -> str | None:
    """Move this process into a new network namespace; None, or why it failed."""
    if not sys.platform.startswith("linux"):
        return "network namespaces exist only on Linux"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) == 0:
        return None
    first = ctypes.get_errno()
    if first != errno.EPERM:
        return os.strerror(first)
    uid, gid = os.getuid(), os.getgid()  # not root: a user namespace grants the right
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        reason = os.strerror(ctypes.get_errno())
        return f"{reason} (run as root, or allow unprivileged user namespaces)"
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as exc:
        return f"cannot map the user into the new namespace: {exc}"
    return None


def loopback_up() -> None:
    """``ip link set lo up``, done with the ioctl it stands for (no iproute2 needed)."""
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(IFREQ, b"lo", 0)
        flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def check_offline() -> str | None:
    """None when other hosts are unreachable and loopback works; else what is wrong.
    UDP connects send no packet, so this check never leaks anything itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("1.1.1.1", 53))
        except OSError as exc:
            if exc.errno != errno.ENETUNREACH:
                return f"expected 'network is unreachable', got {exc}"
        else:
            return "a route to 1.1.1.1 exists inside the namespace"
    with socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(server.getsockname(), timeout=2).close()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--or-run-plain",
        action="store_true",
        help="if no namespace can be made, run the command with the normal network",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    why = unshare_network()
    if why is None:
        loopback_up()
        wrong = check_offline()
        if wrong:
            print(f"offline_run: the namespace is not offline: {wrong}", file=sys.stderr)
            return 1
        os.environ[MARKER] = "1"
    elif args.or_run_plain:
        print(
            f"offline_run: no network namespace ({why}); running with the network", file=sys.stderr
        )
    else:
        print(f"offline_run: cannot make a network namespace: {why}", file=sys.stderr)
        return NO_NAMESPACE
    sys.stdout.flush()
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"offline_run: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached: execvp does not return


if __name__ == "__main__":
    sys.exit(main())
