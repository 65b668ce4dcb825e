"""`parley serve --wyoming` driven by the wyoming library's own client (AsyncTcpClient,
what Home Assistant uses): describe, asr on a spoken WAV, tts heard back, streaming
tts, handle; then every kind of bad input, each followed by a good request."""

from __future__ import annotations

import asyncio
import socket
import threading
import wave

import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from desktop.errors import ParleyError
from desktop.serve.wyoming_server import WyomingOptions, WyomingServer, check_exposure
from tests.conftest import to_16k, words

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(assistant):
    server = WyomingServer(assistant, WyomingOptions(port=0, idle_timeout_s=2.0, max_connections=8))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert server.ready.wait(30)
    yield server
    server.stop()
    thread.join(timeout=10)


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(asyncio.wait_for(coro, 90))


async def client(server) -> AsyncTcpClient:  # noqa: ANN001
    c = AsyncTcpClient("127.0.0.1", server.port)
    await c.connect()
    return c


async def transcribe_wav(server, path) -> str:  # noqa: ANN001
    with wave.open(str(path), "rb") as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    c = await client(server)
    try:
        await c.write_event(Transcribe(language="en").event())
        await c.write_event(AudioStart(rate=rate, width=2, channels=1).event())
        for i in range(0, len(pcm), 2048):
            await c.write_event(
                AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i : i + 2048]).event()
            )
        await c.write_event(AudioStop().event())
        while True:
            event = await c.read_event()
            assert event is not None, "the server closed the connection"
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text
    finally:
        await c.disconnect()


async def speech_of(c: AsyncTcpClient) -> tuple[np.ndarray, int, list[str]]:
    """Read audio-start ... audio-stop; the audio and the event types seen."""
    chunks, rate, types = [], 0, []
    while True:
        event = await c.read_event()
        assert event is not None, "the server closed the connection"
        types.append(event.type)
        if AudioStart.is_type(event.type):
            rate = AudioStart.from_event(event).rate
        elif AudioChunk.is_type(event.type):
            chunks.append(np.frombuffer(AudioChunk.from_event(event).audio, "<i2"))
        elif AudioStop.is_type(event.type):
            return (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)), rate, types


def test_describe_lists_the_real_models(server):
    async def go() -> Info:
        c = await client(server)
        await c.write_event(Describe().event())
        event = await c.read_event()
        await c.disconnect()
        return Info.from_event(event)

    info = run(go())
    assert info.asr[0].models[0].name == "tiny.en"
    assert info.asr[0].models[0].languages == ["en"]
    assert info.tts[0].voices[0].name == "en_US-joe-medium"
    assert info.tts[0].supports_synthesize_streaming
    assert info.handle[0].models[0].name.startswith("SmolLM2-135M-Instruct")


def test_asr_transcribes_a_spoken_wav(server, say):
    text = run(transcribe_wav(server, say("What is the capital of France?", "wy-france")))
    assert {"capital", "france"} <= set(words(text)), text


def test_tts_speaks_what_it_was_given(server, assistant):
    sentence = "The library opens at nine in the morning."

    async def go():
        c = await client(server)
        await c.write_event(Synthesize(text=sentence).event())
        audio = await speech_of(c)
        await c.disconnect()
        return audio

    audio, rate, _ = run(go())
    heard = words(assistant.stt.transcribe(to_16k(audio, rate)))
    assert {"library", "opens", "nine", "morning"} <= set(heard), heard


def test_streaming_tts_speaks_the_first_sentence_before_the_text_is_finished(server, assistant):
    async def go():
        c = await client(server)
        await c.write_event(SynthesizeStart().event())
        await c.write_event(SynthesizeChunk(text="The kettle is boiling now. ").event())
        await c.write_event(SynthesizeChunk(text="Pour the water over").event())
        first = await c.read_event()  # the first sentence's audio, before the text ends
        await c.write_event(SynthesizeChunk(text=" the tea bag.").event())
        await c.write_event(Synthesize(text="ignored: sent for older servers").event())
        await c.write_event(SynthesizeStop().event())
        audio, rate, types = await speech_of(c)
        stopped = await c.read_event()
        await c.disconnect()
        return first, audio, rate, types, stopped

    first, audio, _, types, stopped = run(go())
    assert first.type == "audio-start"
    rate = AudioStart.from_event(first).rate
    assert stopped.type == "synthesize-stopped"
    heard = words(assistant.stt.transcribe(to_16k(audio, rate)))
    assert {"water", "tea"} <= set(heard), heard
    assert "ignored" not in heard and "older" not in heard


def test_handle_answers_a_transcript(server):
    async def go() -> str:
        c = await client(server)
        await c.write_event(Transcript(text="What is the capital of France?").event())
        event = await c.read_event()
        await c.disconnect()
        assert Handled.is_type(event.type), event
        return Handled.from_event(event).text

    assert "paris" in words(run(go()))


def raw_exchange(server, data: bytes) -> bytes:  # noqa: ANN001
    """Send raw bytes; what came back before the server closed the connection."""
    got = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass  # closed with our bytes unread: a reset is a close too
    return got


@pytest.mark.parametrize(
    "data",
    [
        b"not json\n",
        b'{"type": "audio-chunk", "payload_length": 10000000000}\n',
        b'{"type": "audio-start", "data": {"rate": 16000, "width": 4, "channels": 1}}\n',
        b"x" * (1024 * 1024),
        b'{"type": "synthesize-chunk", "data": {"text": "hi"}}\n',  # out of order
        b'{"type": "synthesize", "data": {"text": 5}}\n',
    ],
    ids=[
        "not-json",
        "gigabyte-payload",
        "unsupported-audio",
        "endless-header",
        "out-of-order",
        "text-not-a-string",
    ],
)
def test_bad_input_closes_that_connection_and_the_server_goes_on(server, say, data):
    raw_exchange(server, data)  # returns when the server closed it
    text = run(transcribe_wav(server, say("What is the capital of France?", "wy-france")))
    assert "france" in words(text)


def test_a_client_that_sends_nothing_is_closed_after_the_idle_time(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        assert sock.recv(10) == b""  # closed by the server (idle_timeout_s 2 here)


def test_two_hundred_connections_at_once_are_refused_past_the_limit(server, say):
    socks = []
    try:
        for _ in range(200):
            socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
        refused = 0
        for sock in socks:
            sock.settimeout(1.0)
            try:
                refused += sock.recv(10) == b""
            except TimeoutError:
                pass  # held open: one of the allowed ones
        assert refused >= 200 - 8
    finally:
        for sock in socks:
            sock.close()
    text = run(transcribe_wav(server, say("What is the capital of France?", "wy-france")))
    assert "france" in words(text)


def test_listening_off_loopback_needs_the_clients_named():
    check_exposure("127.0.0.1", ())
    with pytest.raises(ParleyError, match="no authentication") as caught:
        check_exposure("0.0.0.0", ())
    assert "--allow" in caught.value.one_line()
    with pytest.raises(ParleyError, match="IP addresses"):
        check_exposure("0.0.0.0", ("homeassistant.local",))
    check_exposure("0.0.0.0", ("192.168.1.20",))


def test_off_loopback_a_client_not_on_the_list_is_refused(assistant):
    server = WyomingServer(assistant, WyomingOptions(host="0.0.0.0", port=0, allow=("192.0.2.1",)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(30)
        # 127.0.0.1 is not 192.0.2.1: closed before any answer.
        assert raw_exchange(server, b'{"type": "describe"}\n') == b""
    finally:
        server.stop()
        thread.join(timeout=10)
