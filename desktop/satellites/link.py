"""One satellite: connect, describe, run it, hear it, answer it; reconnect when it drops.

In Wyoming the satellite is the server: the hub connects, asks ``describe``,
gets ``info``, and sends ``run-satellite``. From then on the satellite streams
its microphone as ``audio-chunk`` events, and the hub's voice loop for it
(port.py) endpoints, transcribes and answers; the hub tells the device what it
heard (``voice-started``, ``voice-stopped``, ``transcript``) and streams the
reply back as ``audio-start`` / ``audio-chunk`` / ``audio-stop`` while it is
still being written.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from desktop.config import satellite_address
from desktop.engine.conversation.voice_loop import VoiceLoop
from desktop.engine.events import Event as EngineEvent
from desktop.engine.events import Failure, State, Transcript, TurnResult, VoiceActivity
from desktop.satellites import wyoming
from desktop.satellites.port import SatellitePort

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
DESCRIBE_TIMEOUT_S = 5.0
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
MAX_UNSENT_BYTES = 4 * 1024 * 1024  # a satellite that stops reading is dropped past this
MAX_EVENTS_BEFORE_INFO = 50
BUSY_STREAM_OPEN_S = 20.0  # after "one moment", the reply's audio is awaited this long
REPLY_STREAM_OPEN_S = 60.0  # ... and a reply's next clause (the turn's end releases it)


@dataclass
class DeviceStatus:
    """What the window and the terminal show for a satellite."""

    uri: str
    name: str
    state: str = "connecting"  # connecting, offline, listening, transcribing, thinking, speaking
    connected_before: bool = False


class SatelliteLink:
    """Keeps one satellite connected and talked to, until ``stopping`` is set."""

    def __init__(
        self,
        uri: str,
        make_loop: Callable[[SatelliteLink, Callable[[wyoming.Event], None]], VoiceLoop],
        on_status: Callable[[DeviceStatus, str], None],
        on_event: Callable[[DeviceStatus, EngineEvent], None],
    ) -> None:
        self.host, self.port = satellite_address(uri)
        self.status = DeviceStatus(uri, f"{self.host}:{self.port}")
        self._make_loop = make_loop
        self._on_status = on_status
        self._on_event = on_event
        self._writer: asyncio.StreamWriter | None = None
        self._aio: asyncio.AbstractEventLoop | None = None
        self.voice: VoiceLoop | None = None
        self._port: SatellitePort | None = None
        self.turn_waiting_since: float | None = None  # the user finished; nothing heard yet

    # -- connection -----------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        attempt = 0
        while not stopping.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    wyoming.open_connection(self.host, self.port), CONNECT_TIMEOUT_S
                )
            except (TimeoutError, OSError) as exc:
                if attempt == 0:
                    self._set_state("offline", f"cannot reach {self.status.uri}: {_why(exc)}")
                attempt += 1
            else:
                attempt = 0
                await self._serve(reader, writer, stopping)
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            try:
                await asyncio.wait_for(stopping.wait(), delay)
            except TimeoutError:
                pass

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._writer, self._aio = writer, asyncio.get_running_loop()
        why = "the satellite closed the connection"
        try:
            await self._describe(reader, writer)
            await self._start_voice()
            await wyoming.write_event(writer, wyoming.Event("run-satellite"))
            back = self.status.connected_before
            self.status.connected_before = True
            self._set_state("listening", f"{'back' if back else 'connected'}: {self.status.name}")
            reading = asyncio.ensure_future(self._read(reader))
            stop = asyncio.ensure_future(stopping.wait())
            done, _ = await asyncio.wait({reading, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                why = "the hub is stopping"
                reading.cancel()
            else:
                stop.cancel()
                reading.result()
        except wyoming.ProtocolError as exc:
            why = f"closed the connection: {exc.message}"
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            why = f"the connection failed: {_why(exc)}"
        except Exception as exc:  # a bug must not end the hub's other satellites
            log.exception("satellite %s failed", self.status.name)
            why = f"failed: {exc.__class__.__name__}: {exc}"
        finally:
            self._writer = None
            writer.close()
            await self._stop_voice()
            self._set_state("offline", f"{self.status.name}: {why}")

    async def _describe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await wyoming.write_event(writer, wyoming.Event("describe"))
        for _ in range(MAX_EVENTS_BEFORE_INFO):
            event = await asyncio.wait_for(wyoming.read_event(reader), DESCRIBE_TIMEOUT_S)
            if event is None:
                raise wyoming.ProtocolError("it closed before describing itself")
            if event.type == "info":
                self.status.name = _satellite_name(event.data) or self.status.name
                return
        raise wyoming.ProtocolError("it sent no info after describe")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while (event := await wyoming.read_event(reader)) is not None:
            if event.type == "audio-chunk":
                rate, _, channels = wyoming.chunk_format(event)
                if self.voice is not None and self._port is not None:
                    self._port.feed(event.payload or b"", rate, channels)
            elif event.type == "run-pipeline":
                # start_stage "wake" (no wake word on the device) is answered hands-free
                # until Parley has a wake-word detector (README, Limits).
                log.debug(
                    "%s runs a pipeline from %s", self.status.name, event.data.get("start_stage")
                )
            elif event.type == "ping":
                self.send(wyoming.Event("pong", {"text": event.data.get("text")}))
            else:
                log.debug("%s sent %s", self.status.name, event.type)

    # -- the voice loop -------------------------------------------------------------------

    async def _start_voice(self) -> None:
        def make() -> VoiceLoop:
            voice = self._make_loop(self, self.send)
            voice.start()
            return voice

        self.voice = await asyncio.get_running_loop().run_in_executor(None, make)

    def attach_port(self, port: SatellitePort) -> None:
        """The loop's audio factory made this port (the loop opens it on start)."""
        self._port = port

    async def _stop_voice(self) -> None:
        voice, self.voice = self.voice, None
        self._port = None
        if voice is not None:
            await asyncio.get_running_loop().run_in_executor(None, voice.stop)

    def send(self, event: wyoming.Event) -> None:
        """Thread-safe, in order: schedule the event's write on the link's event loop."""
        aio = self._aio
        if aio is None or aio.is_closed():
            return
        aio.call_soon_threadsafe(self._write_now, event)

    def _write_now(self, event: wyoming.Event) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        if writer.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            log.warning("%s stopped reading; closing its connection", self.status.name)
            writer.close()
            return
        writer.write(wyoming.encode(event))

    def say_busy(self, audio, rate: int) -> None:  # noqa: ANN001
        """The hub's "one moment": the reply follows in the same audio stream."""
        port = self._port
        if port is not None:
            port.keep_open(BUSY_STREAM_OPEN_S)
            port.play(audio, rate)

    def on_voice_event(self, event: EngineEvent) -> None:
        """The loop's events: tell the satellite what it needs, pass the rest on."""
        now_ms = int(time.monotonic() * 1000)
        if isinstance(event, VoiceActivity):
            self.send(
                wyoming.Event(
                    "voice-started" if event.speaking else "voice-stopped", {"timestamp": now_ms}
                )
            )
            self.turn_waiting_since = None if event.speaking else time.perf_counter()
        elif isinstance(event, Transcript) and event.final:
            self.send(wyoming.Event("transcript", {"text": event.text}))
        elif isinstance(event, State):
            if event.name in ("speaking", "listening"):
                self.turn_waiting_since = None
            if event.name in ("thinking", "speaking") and self._port is not None:
                # One reply is one audio stream on the device, even when a clause is
                # late (the voice busy with another satellite): its user waits for
                # the stream's end before talking again.
                self._port.keep_open(REPLY_STREAM_OPEN_S)
            if event.name == "listening":
                self._turn_over()  # (also a question that came to nothing: noise)
            self._set_state(event.name)
        elif isinstance(event, TurnResult | Failure):
            self._turn_over()
        self._on_event(self.status, event)

    def _turn_over(self) -> None:
        """Nothing more will follow what was queued: the device's stream may end."""
        if self._port is not None:
            self._port.keep_open(0)

    def _set_state(self, state: str, message: str = "") -> None:
        self.status.state = state
        self._on_status(self.status, message)


def _satellite_name(info: dict) -> str:
    satellite = info.get("satellite")
    if isinstance(satellite, dict) and isinstance(satellite.get("name"), str):
        return satellite["name"][:80]
    return ""


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
