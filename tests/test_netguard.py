"""The offline guard (desktop/netguard.py): refuses and records what would leave the
device, lets loopback, configured hosts and user-started downloads through.

An audit hook is process-wide and permanent, so every guarded check runs in a
child process; the pytest process never installs it. Nothing here sends a
packet off the machine: refused attempts stop before the socket call, and the
allowed ones use UDP connects, which send nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from desktop import netguard
from tests.conftest import REPO

REFUSED = "no download or remote backend asked for it"
PRELUDE = """\
import json, socket, sys, urllib.error, urllib.request
from desktop import netguard
from desktop.config import Settings

def attempt(action):
    '''None when the action went through, else the exception's type and text.'''
    try:
        action()
    except OSError as exc:
        return [type(exc).__name__, str(exc)]
    return None

def udp_connect(host, port=9):  # sends nothing: only sets the default destination
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
"""


def guarded(code: str, home) -> dict:  # noqa: ANN001
    """Run code after PRELUDE in a child process; it prints one JSON object."""
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PARLEY_HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def let_through(outcome: list | None) -> bool:
    """The guard let it pass: it worked, or only the kernel said no (in a network
    namespace, "network is unreachable")."""
    return outcome is None or outcome[0] != "OfflineError"


def records(home) -> list[dict]:  # noqa: ANN001
    return netguard.read_log(home / "logs" / netguard.LOG_NAME)


def test_refuses_an_outbound_connection_and_records_it(tmp_path):
    result = guarded(
        """
        netguard.install("cli")
        print(json.dumps({
            "tcp": attempt(lambda: socket.create_connection(("192.0.2.1", 80), timeout=2)),
            "is_oserror": issubclass(netguard.OfflineError, OSError),
        }))
        """,
        tmp_path,
    )
    assert result["is_oserror"]
    assert result["tcp"] == [
        "OfflineError",
        f"Parley is offline: refused a connection to 192.0.2.1:80 ({REFUSED})",
    ]
    (entry,) = records(tmp_path)
    assert entry["process"] == "cli" and entry["event"] == "connect"
    assert (entry["host"], entry["port"], entry["verdict"]) == ("192.0.2.1", 80, "refused")
    assert entry["reason"] == REFUSED and entry["time"] and entry["pid"]


def test_refuses_name_lookups_so_callers_error_handling_applies(tmp_path):
    result = guarded(
        """
        netguard.install("window")
        def fetch():
            try:
                urllib.request.urlopen("http://example.com/", timeout=2)
            except urllib.error.URLError as exc:  # what urllib users already catch
                raise exc.reason
        print(json.dumps({
            "getaddrinfo": attempt(lambda: socket.getaddrinfo("example.com", 443)),
            "gethostbyname": attempt(lambda: socket.gethostbyname("example.com")),
            "reverse": attempt(lambda: socket.gethostbyaddr("192.0.2.1")),
            "sendto": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                              .sendto(b"x", ("192.0.2.1", 53))),
            "urllib": attempt(fetch),
        }))
        """,
        tmp_path,
    )
    assert result["getaddrinfo"][1] == (
        f"Parley is offline: refused a connection to example.com:443 ({REFUSED})"
    )
    assert result["gethostbyname"][1] == (
        f"Parley is offline: refused a name lookup of example.com ({REFUSED})"
    )
    assert "refused a name lookup of 192.0.2.1" in result["reverse"][1]
    assert "refused sending to 192.0.2.1:53" in result["sendto"][1]
    assert result["urllib"] == [
        "OfflineError",
        f"Parley is offline: refused a connection to example.com:80 ({REFUSED})",
    ]
    found = [(e["event"], e["host"], e["verdict"], e["process"]) for e in records(tmp_path)]
    assert found == [
        ("lookup", "example.com", "refused", "window"),
        ("lookup", "example.com", "refused", "window"),
        ("lookup", "192.0.2.1", "refused", "window"),
        ("send", "192.0.2.1", "refused", "window"),
        ("lookup", "example.com", "refused", "window"),
    ]


def test_loopback_and_local_sockets_pass_without_a_record(tmp_path):
    result = guarded(
        """
        import http.server, threading
        netguard.install("cli")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        def http_get(host):
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as response:
                assert response.status == 200
        def unix():
            a, b = socket.socketpair()
            a.sendall(b"x"); assert b.recv(1) == b"x"
        any_server = socket.create_server(("0.0.0.0", 0))  # binding is not going out
        print(json.dumps({
            "ip": attempt(lambda: http_get("127.0.0.1")),
            "name": attempt(lambda: http_get("localhost")),
            "v6": attempt(lambda: udp_connect("::ffff:127.0.0.1")),
            "unix": attempt(unix),
            "any": attempt(lambda: socket.create_connection(any_server.getsockname()).close()),
            "own_lookup": attempt(lambda: socket.getaddrinfo("localhost", port)),
        }))
        server.shutdown()
        """,
        tmp_path,
    )
    assert result == dict.fromkeys(result)  # every one went through
    assert not (tmp_path / "logs" / netguard.LOG_NAME).exists()


def test_the_users_remote_backend_is_allowed_and_recorded(tmp_path):
    result = guarded(
        """
        netguard.install("engine", Settings(remote_url="http://192.0.2.7:8080"))
        from desktop.engine.llm.remote import RemoteBackend
        RemoteBackend("http://[2001:db8::5]:8080/v1")  # constructing it permits its host
        print(json.dumps({
            "settings": attempt(lambda: udp_connect("192.0.2.7", 8080)),
            "backend": attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                               .connect(("2001:db8::5", 8080))),
            "other": attempt(lambda: udp_connect("192.0.2.8", 8080)),
        }))
        """,
        tmp_path,
    )
    assert let_through(result["settings"]) and let_through(result["backend"])
    assert result["other"][0] == "OfflineError"
    found = [(e["host"], e["verdict"], e["reason"]) for e in records(tmp_path)]
    assert found == [
        ("192.0.2.7", "allowed", "the remote backend in the settings"),
        ("2001:db8::5", "allowed", "the remote backend http://[2001:db8::5]:8080/v1"),
        ("192.0.2.8", "refused", REFUSED),
    ]


def test_a_download_lets_everything_through_while_it_runs(tmp_path):
    result = guarded(
        """
        netguard.install("cli")
        with netguard.allowing("download of smollm2-360m"):
            during = attempt(lambda: udp_connect("198.51.100.1", 443))
        print(json.dumps({"during": during, "after": attempt(lambda: udp_connect("198.51.100.1", 443))}))
        """,
        tmp_path,
    )
    assert let_through(result["during"]) and result["after"][0] == "OfflineError"
    found = [(e["host"], e["port"], e["verdict"], e["reason"]) for e in records(tmp_path)]
    assert found == [
        ("198.51.100.1", 443, "allowed", "download of smollm2-360m"),
        ("198.51.100.1", 443, "refused", REFUSED),
    ]


def test_installing_twice_does_not_stack_hooks_and_turns_telemetry_off(tmp_path):
    result = guarded(
        """
        import os
        first = netguard.install("cli")
        second = netguard.install("window")
        refused = attempt(lambda: udp_connect("192.0.2.1"))
        from huggingface_hub import constants
        print(json.dumps({
            "same": first is second,
            "refused": refused,
            "env": [os.environ.get("HF_HUB_DISABLE_TELEMETRY"), os.environ.get("DO_NOT_TRACK")],
            "hub": constants.HF_HUB_DISABLE_TELEMETRY,
        }))
        """,
        tmp_path,
    )
    assert result["same"] and result["refused"][0] == "OfflineError"
    assert result["env"] == ["1", "1"] and result["hub"] is True
    (entry,) = records(tmp_path)  # one hook: one record
    assert entry["process"] == "window"


def test_every_parley_command_runs_guarded(tmp_path):
    """cli.main installs the guard before the command runs; --remote permits its host."""
    result = guarded(
        """
        from desktop.cli import main
        with open("/dev/null", "w") as quiet:
            sys.stdout = quiet
            main(["models", "list"])
            sys.stdout = sys.__stdout__
        print(json.dumps({"refused": attempt(lambda: udp_connect("192.0.2.1"))}))
        """,
        tmp_path,
    )
    assert result["refused"][0] == "OfflineError"
    assert records(tmp_path)[-1]["process"] == "cli"


def test_a_permitted_name_covers_the_addresses_it_resolves_to(tmp_path):
    """No hook here: a Guard on its own, with a stand-in resolver (no DNS)."""
    guard = netguard.Guard(resolve=lambda name: {"big-pc.lan": ["192.168.1.50"]}[name])
    guard.log_path = tmp_path / netguard.LOG_NAME
    guard.permit_host("Big-PC.lan", "the remote backend http://big-pc.lan:8080/v1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        guard.check("socket.getaddrinfo", ("big-pc.lan", 8080, 0, 0, 0))
        guard.check("socket.connect", (sock, ("192.168.1.50", 8080)))
        with pytest.raises(netguard.OfflineError, match="192.168.1.51:8080"):
            guard.check("socket.connect", (sock, ("192.168.1.51", 8080)))
        guard.check("socket.connect", (sock, ("127.0.0.1", 8080)))  # loopback: no record
    found = [(e["event"], e["host"], e["verdict"]) for e in netguard.read_log(guard.log_path)]
    assert found == [
        ("lookup", "big-pc.lan", "allowed"),
        ("connect", "192.168.1.50", "allowed"),
        ("connect", "192.168.1.51", "refused"),
    ]


def test_read_log_skips_broken_lines_and_reads_the_rotated_file_first(tmp_path):
    log = tmp_path / netguard.LOG_NAME
    (tmp_path / (netguard.LOG_NAME + ".1")).write_text('{"host": "old"}\n')
    log.write_text('{"host": "new"}\nnot json\n[1]\n{"host": "half')
    assert [e["host"] for e in netguard.read_log(log)] == ["old", "new"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "localhost", "LOCALHOST.", "0.0.0.0", ""],
)
def test_local_hosts(host):
    assert netguard.is_local(host)


@pytest.mark.parametrize("host", ["192.0.2.1", "example.com", "::ffff:192.0.2.1", "10.0.0.1"])
def test_hosts_off_the_device(host):
    assert not netguard.is_local(host)


def test_the_satellites_in_the_settings_are_allowed_and_nothing_else(tmp_path):
    result = guarded(
        """
        netguard.install("cli", Settings(satellites=("tcp://192.0.2.21:10700",)))
        print(json.dumps({
            "listed": attempt(lambda: udp_connect("192.0.2.21", 10700)),
            "unlisted": attempt(lambda: udp_connect("192.0.2.22", 10700)),
        }))
        """,
        tmp_path,
    )
    assert let_through(result["listed"])
    assert result["unlisted"][0] == "OfflineError"
    found = [(e["host"], e["verdict"], e["reason"]) for e in records(tmp_path)]
    assert found == [
        ("192.0.2.21", "allowed", "a satellite in the settings"),
        ("192.0.2.22", "refused", REFUSED),
    ]
