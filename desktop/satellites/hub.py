"""The hub: one set of models answering every satellite the user listed.

Each satellite gets its own conversation (an Assistant over the shared models,
saved to the history under the device's name) and its own voice loop; the
models take one caller at a time, first come, first served (sharing.py). When
a satellite's user has finished and the model is busy with another device,
the hub says "one moment" within BUSY_AFTER_S rather than leave them in
silence. The engine stays unaware of all this: it sees an AudioPort.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from desktop.config import remember_settings
from desktop.engine.conversation.turn import Assistant
from desktop.engine.conversation.voice_loop import VoiceLoop
from desktop.engine.events import Event as EngineEvent
from desktop.engine.events import SettingsChanged, TurnResult
from desktop.errors import ConfigError
from desktop.history.recorder import Recorder
from desktop.satellites import wyoming
from desktop.satellites.link import DeviceStatus, SatelliteLink
from desktop.satellites.port import SatellitePort
from desktop.satellites.sharing import FairLock, SharedChat, SharedSynthesizer, SharedTranscriber

log = logging.getLogger(__name__)

BUSY_AFTER_S = 1.0  # after the endpoint; with it, "one moment" comes before 2 s of silence
BUSY_PHRASE = "One moment."

StatusSink = Callable[[DeviceStatus, str], None]
EventSink = Callable[[DeviceStatus, EngineEvent], None]


class Hub:
    """Run with ``run()`` (blocking) or ``serve()`` on an event loop; ``stop()`` ends it."""

    def __init__(
        self,
        assistant: Assistant,
        satellites: list[str],
        *,
        on_status: StatusSink | None = None,
        on_event: EventSink | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.assistant = assistant
        self._on_status = on_status or (lambda status, message: None)
        self._on_event = on_event or (lambda status, event: None)
        self._store = recorder.store if recorder is not None else None
        self._problem = recorder.on_problem if recorder is not None else log.warning
        self.llm_lock, self.stt_lock, self.tts_lock = FairLock(), FairLock(), FairLock()
        self._conversations: dict[str, Assistant] = {}
        self._recorders: dict[str, Recorder] = {}
        self.links = [
            SatelliteLink(uri, self._make_loop, self._status, self._event) for uri in satellites
        ]
        self._busy_clip: tuple[np.ndarray, int] | None = None
        self._stopping: asyncio.Event | None = None
        self._aio: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    # -- running --------------------------------------------------------------------------

    def run(self) -> None:
        asyncio.run(self.serve())

    async def serve(self) -> None:
        self._aio = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._busy_clip = await self._aio.run_in_executor(None, self._synthesize_busy_phrase)
        self._ready.set()
        watch = asyncio.ensure_future(self._watch_waiting())
        try:
            await asyncio.gather(*(link.run(self._stopping) for link in self.links))
        finally:
            watch.cancel()

    def stop(self) -> None:
        """Thread-safe: end every turn, close every connection, return from run()."""
        aio, stopping = self._aio, self._stopping
        if aio is not None and stopping is not None and not aio.is_closed():
            aio.call_soon_threadsafe(stopping.set)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    # -- per satellite --------------------------------------------------------------------

    def _make_loop(self, link: SatelliteLink, send: Callable[[wyoming.Event], None]) -> VoiceLoop:
        def audio(on_block, on_failure) -> SatellitePort:  # noqa: ANN001
            port = SatellitePort(on_block, on_failure, send)
            link.attach_port(port)
            return port

        return VoiceLoop(
            self._conversation(link),
            audio,
            link.on_voice_event,
            hands_free=True,
            echo_cancellation=False,  # no echo reference comes back from a satellite
        )

    def _conversation(self, link: SatelliteLink) -> Assistant:
        """The satellite's conversation: kept across reconnects, over the shared models."""
        key = link.status.uri
        if key not in self._conversations:
            base = self.assistant
            self._conversations[key] = Assistant(
                SharedChat(base.llm, self.llm_lock, owner=key),
                SharedTranscriber(base.stt, self.stt_lock),  # type: ignore[arg-type]
                SharedSynthesizer(base.tts, self.tts_lock),  # type: ignore[arg-type]
                base.system_prompt,
                models=dict(base.models),
                turn_end=base.turn_end,  # thread-safe: it has a context and a lock of its own
                skills=base.skills,  # one timers file; each timer rings on its own device
                device=key,
            )
        return self._conversations[key]

    def _event(self, status: DeviceStatus, event: EngineEvent) -> None:
        if isinstance(event, TurnResult):
            self._record(status, event)
        elif isinstance(event, SettingsChanged):
            try:
                remember_settings(event.values)  # "speak slower" on any device: the voice
            except ConfigError as exc:
                log.warning("%s", exc.one_line())
        self._on_event(status, event)

    def _status(self, status: DeviceStatus, message: str) -> None:
        if message:
            log.info("satellite %s", message)
        self._on_status(status, message)

    def _record(self, status: DeviceStatus, result: TurnResult) -> None:
        if self._store is None:
            return
        recorder = self._recorders.get(status.uri)
        if recorder is None:
            recorder = self._recorders[status.uri] = Recorder(self._store, self._problem)
            try:
                recorder.conversation_id = self._store.new_conversation(status.name)
            except Exception as exc:  # a full disk: the recorder reports it on record
                log.error("cannot start %s's conversation: %s", status.name, exc)
        recorder.record(result)

    # -- "one moment" ---------------------------------------------------------------------

    def _synthesize_busy_phrase(self) -> tuple[np.ndarray, int] | None:
        tts = self.assistant.tts
        if tts is None:
            return None
        return tts.synthesize(BUSY_PHRASE), tts.sample_rate

    async def _watch_waiting(self) -> None:
        """A satellite whose user finished is waiting on a model another satellite holds:
        tell them so, once per turn."""
        while True:
            await asyncio.sleep(0.1)
            now = time.perf_counter()
            for link in self.links:
                since = link.turn_waiting_since
                if since is None or now - since < BUSY_AFTER_S or self._busy_clip is None:
                    continue
                holder = self.llm_lock.holder
                if holder is not None and holder != link.status.uri:
                    link.turn_waiting_since = None
                    log.info("%s waits for the model: saying %r", link.status.name, BUSY_PHRASE)
                    link.say_busy(*self._busy_clip)
