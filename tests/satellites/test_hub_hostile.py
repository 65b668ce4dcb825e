"""A hostile or broken peer in the satellite list: each kind of bad input closes that
connection with a log line, and the real satellite beside it is answered meanwhile.

The hostile peer is a real TCP server sending real bytes (each connection the hub
makes gets the next misbehaviour); the satellite is the real wyoming-satellite.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from desktop.satellites import link as link_module
from tests.conftest import words
from tests.satellites.rig import Satellite, free_port
from tests.satellites.test_hub_live import HubThread

pytestmark = pytest.mark.timeout(300)

INFO = json.dumps({"type": "info", "data": {"satellite": {"name": "hostile"}}}).encode() + b"\n"


def header(**fields) -> bytes:
    return json.dumps(fields).encode() + b"\n"


MISBEHAVIOURS = [
    ("not json", b"this is not json at all\n"),
    ("gigabyte payload", INFO + header(type="audio-chunk", payload_length=10**10)),
    (
        "bad audio",
        INFO
        + header(
            type="audio-chunk", data={"rate": 16000, "width": 4, "channels": 1}, payload_length=4
        )
        + b"\x00" * 4,
    ),
    ("endless header", INFO + b"x" * (2 * 1024 * 1024)),
    ("cut mid-event", INFO + header(type="audio-chunk", payload_length=4096) + b"\x00" * 10),
    ("silent", b""),
]


class HostilePeer:
    """Accepts the hub's connections; the n-th gets MISBEHAVIOURS[n]. Records how long the
    hub took to close each."""

    def __init__(self) -> None:
        self.port = free_port()
        self.uri = f"tcp://127.0.0.1:{self.port}"
        self.closed: list[tuple[str, float]] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for name, raw in MISBEHAVIOURS:
            conn, _ = self._server.accept()
            with conn:
                began = time.monotonic()
                conn.settimeout(30)
                try:
                    conn.recv(4096)  # the hub's describe
                    if raw:
                        conn.sendall(raw)
                    if name == "cut mid-event":
                        conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):  # until the hub hangs up
                        pass
                except OSError:
                    pass  # a reset is the hub hanging up too
                self.closed.append((name, time.monotonic() - began))
        self._server.close()


def test_bad_peers_are_closed_and_the_real_satellite_is_answered(
    assistant, say, tmp_path, monkeypatch
):
    monkeypatch.setattr(link_module, "BACKOFF_S", (0.5,))  # quicker rounds for the test
    hostile = HostilePeer()
    satellite = Satellite(
        tmp_path, "kitchen", [say("What is the capital of France?", "sat-fr")], lead_s=2.0
    )
    satellite.start()
    try:
        with HubThread(assistant, [hostile.uri, satellite.uri]) as hub:
            hub.wait_for(lambda: hub.results("kitchen"), 90, "the satellite's turn")
            hub.wait_for(lambda: len(hostile.closed) == len(MISBEHAVIOURS), 60, "every case")
            assert "france" in words(hub.results("kitchen")[0].transcript)
        assert [name for name, _ in hostile.closed] == [name for name, _ in MISBEHAVIOURS]
        # One log line each, saying what was wrong (the silent one: the describe timed out).
        reasons = " | ".join(
            m for n, _, m in hub.statuses if n in ("hostile", f"127.0.0.1:{hostile.port}")
        )
        for why in (
            "not JSON",
            "over the limit",
            "unsupported audio",
            "header is over",
            "middle of",
            "no answer in time",
        ):
            assert why in reasons, reasons
    finally:
        satellite.stop()
