"""`parley serve --wyoming`: Parley's speech recognition, voice and assistant as Wyoming
services, so Home Assistant can pick Parley as its STT, TTS and conversation agent.

    asr     transcribe + audio-start / audio-chunk ... / audio-stop  ->  transcript
    tts     synthesize                                               ->  audio-start / chunk ... / stop
            synthesize-start / synthesize-chunk ... / synthesize-stop ->  audio as each sentence is
                                                                          complete, then synthesize-stopped
    handle  transcript (the user's words)                            ->  handled (the reply)

Wyoming has no authentication, so the server listens on 127.0.0.1 unless the
user names an address together with the clients allowed to connect. Every
connection is bounded: frames (wyoming.py), audio (10 minutes), text (20,000
characters), idle time, and the number of connections at once; a client that
breaks one is closed with a log line and the others carry on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from desktop.engine.audio.samples import STT_RATE
from desktop.engine.conversation.turn import Assistant
from desktop.engine.speech.clauses import ClauseChunker
from desktop.errors import ParleyError
from desktop.satellites import wyoming
from desktop.satellites.port import pcm_bytes, pcm_to_float
from desktop.satellites.sharing import FairLock
from desktop.serve.auth import is_loopback
from desktop.serve.openai_api import model_names

log = logging.getLogger(__name__)

DEFAULT_PORT = 10300
MAX_AUDIO_S = 600.0
MAX_TEXT_CHARS = 20_000
CHUNK_SAMPLES = 1024
ATTRIBUTION = {"name": "Parley", "url": "https://github.com/parley/parley"}


@dataclass(frozen=True)
class WyomingOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    allow: tuple[str, ...] = ()  # client addresses allowed when the host is not loopback
    idle_timeout_s: float = 60.0
    max_connections: int = 16


def check_exposure(host: str, allow: tuple[str, ...]) -> None:
    """Wyoming has no authentication: off loopback, name the clients that may connect."""
    if is_loopback(host):
        return
    if not allow:
        raise ParleyError(
            f"Wyoming has no authentication; to listen on {host}, name the clients allowed "
            "to connect",
            "add --allow ADDRESS (for example your Home Assistant's address)",
        )
    for address in allow:
        try:
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise ParleyError(f"--allow takes IP addresses, not {address!r}") from exc


def describe(assistant: Assistant) -> dict:
    """The info event's data: the real models, their languages."""
    names = model_names(assistant.models)
    stt_name, voice = names.get("stt", "whisper"), names.get("tts", "voice")
    english_only = stt_name.endswith(".en")

    def artifact(name: str, description: str, **more: object) -> dict:
        return {
            "name": name,
            "attribution": ATTRIBUTION,
            "installed": True,
            "description": description,
            "version": None,
            **more,
        }

    info: dict = {}
    if assistant.stt is not None:
        info["asr"] = [
            artifact(
                "parley-whisper",
                "faster-whisper speech recognition in Parley",
                models=[
                    artifact(
                        stt_name, f"Whisper {stt_name}", languages=["en"] if english_only else []
                    )
                ],
                supports_transcript_streaming=False,
            )
        ]
    if assistant.tts is not None:
        language = voice.split("-")[0] if "-" in voice else "en_US"
        info["tts"] = [
            artifact(
                "parley-piper",
                "piper voices in Parley",
                voices=[artifact(voice, f"piper {voice}", languages=[language])],
                supports_synthesize_streaming=True,
            )
        ]
    info["handle"] = [
        artifact(
            "parley",
            "Parley's assistant (a local language model)",
            models=[
                artifact(names.get("llm", "parley"), assistant.llm.description, languages=["en"])
            ],
            supports_handled_streaming=False,
        )
    ]
    return info


@dataclass
class _Session:
    """What one connection is in the middle of."""

    audio: list[np.ndarray] = field(default_factory=list)
    audio_rate: int = 0
    audio_seconds: float = 0.0
    streaming_tts: ClauseChunker | None = None
    streamed_text_chars: int = 0
    speaking: bool = False  # an audio-start was sent for the current synthesis


class WyomingServer:
    """``run()`` blocks; ``stop()`` (thread-safe) ends it."""

    def __init__(self, assistant: Assistant, options: WyomingOptions | None = None) -> None:
        self.assistant = assistant
        self.options = options or WyomingOptions()
        self.lock = FairLock()  # one model call at a time, first come first served
        self._connections = 0
        self._aio: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._server: asyncio.base_events.Server | None = None
        self.ready = threading.Event()
        self.on_ready: Callable[[int], None] | None = None  # told the port once listening
        self.port = self.options.port
        self.info = describe(assistant)

    def run(self) -> None:
        asyncio.run(self.serve())

    async def serve(self) -> None:
        self._aio = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(
            self._connection,
            self.options.host,
            self.options.port,
            limit=wyoming.MAX_HEADER_BYTES,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.ready.set()
        if self.on_ready is not None:
            self.on_ready(self.port)
        async with self._server:
            await self._stopping.wait()

    def stop(self) -> None:
        aio, stopping = self._aio, self._stopping
        if aio is not None and stopping is not None and not aio.is_closed():
            aio.call_soon_threadsafe(stopping.set)

    # -- one connection -------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        who = f"{peer[0]}:{peer[1]}"
        if not self._allowed(str(peer[0])):
            log.warning("wyoming: refused %s: not in the allowed clients", who)
            writer.close()
            return
        if self._connections >= self.options.max_connections:
            log.warning("wyoming: refused %s: %d connections already", who, self._connections)
            writer.close()
            return
        self._connections += 1
        session = _Session()
        try:
            while True:
                event = await asyncio.wait_for(
                    wyoming.read_event(reader), self.options.idle_timeout_s
                )
                if event is None:
                    break
                async for reply in self._handle(event, session):
                    writer.write(wyoming.encode(reply))
                    await writer.drain()
        except wyoming.ProtocolError as exc:
            log.warning("wyoming: closed %s: %s", who, exc.message)
        except TimeoutError:
            log.info(
                "wyoming: closed %s: nothing sent for %.0f s", who, self.options.idle_timeout_s
            )
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("wyoming: %s went away: %s", who, exc)
        finally:
            self._connections -= 1
            writer.close()

    def _allowed(self, address: str) -> bool:
        if is_loopback(self.options.host):
            return True
        return address in self.options.allow

    async def _handle(
        self, event: wyoming.Event, session: _Session
    ) -> AsyncIterator[wyoming.Event]:
        """The events to send back, each as soon as it is ready (speech clause by clause)."""
        kind = event.type
        if kind == "synthesize":
            if session.streaming_tts is None:  # a streaming client sends it too: ignored
                chunker = ClauseChunker()
                clauses = [*chunker.feed(self._text(event)), *chunker.flush()]
                async for reply in self._speak(_first_and_rest(clauses), session, close=True):
                    yield reply
        elif kind == "synthesize-chunk":
            if session.streaming_tts is None:
                raise wyoming.ProtocolError("synthesize-chunk before synthesize-start")
            text = self._text(event)
            session.streamed_text_chars += len(text)
            if session.streamed_text_chars > MAX_TEXT_CHARS:
                raise wyoming.ProtocolError(f"more than {MAX_TEXT_CHARS} characters to speak")
            async for reply in self._speak(
                _batched(session.streaming_tts.feed(text), session), session, close=False
            ):
                yield reply
        elif kind == "synthesize-stop":
            chunker, session.streaming_tts = session.streaming_tts, None
            rest = chunker.flush() if chunker is not None else []
            async for reply in self._speak(_batched(rest, session), session, close=True):
                yield reply
            yield wyoming.Event("synthesize-stopped")
        else:
            for reply in await self._answer_event(event, session):
                yield reply

    async def _answer_event(self, event: wyoming.Event, session: _Session) -> list[wyoming.Event]:
        kind = event.type
        if kind == "describe":
            return [wyoming.Event("info", self.info)]
        if kind == "ping":
            return [wyoming.Event("pong", {"text": event.data.get("text")})]
        if kind == "transcribe":
            session.audio, session.audio_seconds = [], 0.0
            return []
        if kind == "audio-start":
            session.audio, session.audio_seconds = [], 0.0
            header = wyoming.Event(kind, event.data, b"")
            session.audio_rate = wyoming.chunk_format(header)[0]
            return []
        if kind == "synthesize-start":
            session.streaming_tts, session.streamed_text_chars = ClauseChunker(), 0
            return []
        if kind == "audio-chunk":
            rate, _, channels = wyoming.chunk_format(event)
            if session.audio_rate and rate != session.audio_rate:
                raise wyoming.ProtocolError("the audio's rate changed in the middle")
            session.audio_rate = rate
            samples = pcm_to_float(event.payload or b"", channels)
            session.audio_seconds += samples.size / rate
            if session.audio_seconds > MAX_AUDIO_S:
                raise wyoming.ProtocolError(f"more than {MAX_AUDIO_S / 60:.0f} minutes of audio")
            session.audio.append(samples)
            return []
        if kind == "audio-stop":
            return [await self._transcribe(session)]
        if kind == "transcript":
            return [await self._answer(self._text(event))]
        log.debug("wyoming: ignored %s", kind)
        return []

    @staticmethod
    def _text(event: wyoming.Event) -> str:
        text = event.data.get("text")
        if not isinstance(text, str):
            raise wyoming.ProtocolError(f"{event.type} has no text")
        if len(text) > MAX_TEXT_CHARS:
            raise wyoming.ProtocolError(f"more than {MAX_TEXT_CHARS} characters of text")
        return text

    async def _in_turn(self, work, *args):  # noqa: ANN001, ANN202
        """Run a model call off the event loop, one at a time across connections."""

        def call():  # noqa: ANN202
            with self.lock.held():
                return work(*args)

        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def _transcribe(self, session: _Session) -> wyoming.Event:
        stt = self.assistant.stt
        if stt is None:
            raise wyoming.ProtocolError("this server has no speech recognition")
        audio = np.concatenate(session.audio) if session.audio else np.zeros(0, np.float32)
        rate, session.audio, session.audio_seconds = session.audio_rate, [], 0.0
        if audio.size and rate and rate != STT_RATE:
            import soxr

            audio = soxr.resample(audio, rate, STT_RATE).astype(np.float32)
        try:
            text = await self._in_turn(stt.transcribe, audio, "the Wyoming client's audio")
        except ParleyError:
            text = ""  # silence or noise: nothing was said
        return wyoming.Event("transcript", {"text": text, "language": "en"})

    async def _speak(
        self, texts: list[str], session: _Session, *, close: bool
    ) -> AsyncIterator[wyoming.Event]:
        """Each clause's audio as soon as it is synthesized."""
        tts = self.assistant.tts
        if tts is None:
            raise wyoming.ProtocolError("this server has no voice")
        rate = tts.sample_rate
        for text in texts:
            if not text.strip():
                continue
            try:
                audio = await self._in_turn(tts.synthesize, text)
            except ParleyError as exc:
                yield wyoming.Event("error", {"text": exc.one_line(), "code": "tts"})
                continue
            if not session.speaking:
                yield wyoming.Event("audio-start", wyoming.audio_format(rate))
                session.speaking = True
            for piece in _pieces(audio):
                yield wyoming.audio_chunk(pcm_bytes(piece), rate)
        if close:
            if not session.speaking:  # nothing speakable: still a well-formed stream
                yield wyoming.Event("audio-start", wyoming.audio_format(rate))
            yield wyoming.Event("audio-stop")
            session.speaking = False

    async def _answer(self, text: str) -> wyoming.Event:
        """A transcript in, the reply out (a fresh conversation each time: Home Assistant
        keeps the conversation on its side)."""
        assistant = Assistant(
            self.assistant.llm,
            None,
            None,
            self.assistant.system_prompt,
            models=self.assistant.models,
        )
        try:
            result = await self._in_turn(lambda: assistant.run_turn(text=text))
        except ParleyError as exc:
            return wyoming.Event("not-handled", {"text": exc.one_line()})
        return wyoming.Event("handled", {"text": result.reply})


def _first_and_rest(clauses: list[str]) -> list[str]:
    """The first clause alone, so its audio starts soon; the rest in one synthesis, which
    costs less than one per clause (piper's start-up and silences each time)."""
    return clauses[:1] + _together(clauses[1:])


def _batched(clauses: list[str], session: _Session) -> list[str]:
    """A stream's first clause alone (its first audio matters most), later ones together."""
    return _together(clauses) if session.speaking else _first_and_rest(clauses)


def _together(clauses: list[str]) -> list[str]:
    """Clauses ready at the same moment, spoken as one synthesis."""
    return [" ".join(clauses)] if clauses else []


def _pieces(audio: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, audio.size, CHUNK_SAMPLES):
        yield audio[start : start + CHUNK_SAMPLES]
