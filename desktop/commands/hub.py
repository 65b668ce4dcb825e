"""``parley hub``: answer Wyoming satellites without a window (a box by the TV, in a bag).

    parley hub --satellite tcp://glasses.local:10700 [--satellite ...]

Satellites named here are added to those in the settings (``satellites``).
Each device's turns print as they finish and go to the log file; SIGTERM or
Ctrl-C ends every turn and closes every connection before it exits.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from desktop import netguard
from desktop.config import load_settings, satellite_address
from desktop.engine.events import Event, Failure, Heard, Notice, Transcript, TurnResult
from desktop.engine.loading import load_assistant
from desktop.errors import ConfigError
from desktop.history.recorder import Recorder
from desktop.satellites.hub import Hub
from desktop.satellites.link import DeviceStatus


def add_parser(commands: argparse._SubParsersAction) -> None:
    hub = commands.add_parser("hub", help="answer Wyoming satellites (glasses, hearing aids)")
    hub.add_argument(
        "--satellite",
        action="append",
        default=[],
        metavar="tcp://HOST:PORT",
        help="a satellite to connect to (repeat for more); added to the settings' list",
    )
    hub.add_argument("--model", metavar="PATH.gguf", help="use this chat model")


class HubView:
    """One line per finished thing, named after its device; safe from any thread."""

    def __init__(self, out=sys.stdout) -> None:  # noqa: ANN001
        self.out = out
        self.lock = threading.Lock()

    def status(self, device: DeviceStatus, message: str) -> None:
        if message:
            self._line(f"[{message}]")

    def event(self, device: DeviceStatus, event: Event) -> None:
        name = device.name
        if isinstance(event, Transcript) and event.final:
            self._line(f"{name} you> {event.text}")
        elif isinstance(event, TurnResult):
            self._line(f"{name} parley> {event.reply}{' [stopped]' if event.cancelled else ''}")
        elif isinstance(event, Heard):
            self._line(f"{name}   (heard {event.voice_to_voice_ms:.0f} ms after you stopped)")
        elif isinstance(event, Notice | Failure):
            self._line(f"{name} parley: {event.message}")

    def _line(self, text: str) -> None:
        with self.lock:
            print(text, file=self.out, flush=True)


def run_hub(args: argparse.Namespace) -> int:
    settings = load_settings()
    satellites = list(dict.fromkeys([*settings.satellites, *args.satellite]))
    if not satellites:
        raise ConfigError(
            "no satellites to answer",
            "name one with --satellite tcp://HOST:PORT, or list them as satellites in the settings",
        )
    for uri in satellites:
        host, _ = satellite_address(uri)
        netguard.permit_host(host, "a satellite the user listed")
    recorder = Recorder.open(
        settings.keep_history, lambda m: print(f"parley: {m}", file=sys.stderr)
    )
    print("parley: loading models…", file=sys.stderr, flush=True)
    assistant = load_assistant(settings, llm_path=args.model, live_audio=True)
    view = HubView()
    hub = Hub(assistant, satellites, on_status=view.status, on_event=view.event, recorder=recorder)

    def stop(signum: int, frame: FrameType | None) -> None:
        hub.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"parley: hub for {', '.join(satellites)}", file=sys.stderr, flush=True)
    try:
        hub.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        recorder.close()
    print("parley: hub stopped", file=sys.stderr, flush=True)
    return 0
