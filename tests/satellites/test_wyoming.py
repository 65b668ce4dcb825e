"""Wyoming framing: what the reference library writes is read back, and what a hostile
peer sends ends in a one-line ProtocolError without reading or allocating past the
limits."""

from __future__ import annotations

import asyncio

import pytest

from desktop.satellites import wyoming


def read(raw: bytes) -> wyoming.Event | None:
    async def go() -> wyoming.Event | None:
        reader = asyncio.StreamReader(limit=wyoming.MAX_HEADER_BYTES)
        reader.feed_data(raw)
        reader.feed_eof()
        return await wyoming.read_event(reader)

    return asyncio.run(go())


def test_an_event_round_trips_with_data_and_payload():
    event = wyoming.audio_chunk(b"\x01\x00" * 512, 16000, timestamp_ms=64)
    back = read(wyoming.encode(event))
    assert back == event
    assert wyoming.chunk_format(back) == (16000, 2, 1)


def test_the_reference_library_and_parley_read_each_others_events():
    """wyoming (PyPI), the library wyoming-satellite and Home Assistant use."""
    from wyoming.audio import AudioChunk
    from wyoming.event import async_read_event, async_write_event

    sent = AudioChunk(rate=16000, width=2, channels=1, audio=b"\x02\x00" * 300).event()

    async def go() -> tuple[wyoming.Event | None, object]:
        theirs = asyncio.StreamReader()
        pipe = _Pipe(theirs)
        await async_write_event(sent, pipe)  # type: ignore[arg-type]
        theirs.feed_eof()
        ours = await wyoming.read_event(theirs)  # default limit: MAX_HEADER_BYTES
        back = asyncio.StreamReader()
        back.feed_data(wyoming.encode(wyoming.Event("transcript", {"text": "hi"})))
        back.feed_eof()
        return ours, await async_read_event(back)

    ours, theirs = asyncio.run(go())
    assert ours is not None and ours.type == "audio-chunk" and ours.payload == sent.payload
    assert wyoming.chunk_format(ours) == (16000, 2, 1)
    assert theirs.type == "transcript" and theirs.data == {"text": "hi"}


class _Pipe:
    """A StreamWriter's write side that lands in a StreamReader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def write(self, data: bytes) -> None:
        self.reader.feed_data(data)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    async def drain(self) -> None:
        pass


def test_a_clean_close_between_events_is_the_end_not_an_error():
    assert read(b"") is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"this is not json\n", "not JSON"),
        (b"[1, 2, 3]\n", "not a JSON object"),
        (b'{"data": {}}\n', "no type"),
        (b'{"type": "audio-chunk", "payload_length": 10000000000}\n', "over the limit"),
        (b'{"type": "audio-chunk", "payload_length": -5}\n', "not a length"),
        (b'{"type": "audio-chunk", "payload_length": "12"}\n', "not a length"),
        (b'{"type": "info", "data_length": 999999999}\n', "over the limit"),
        (b'{"type": "info", "data_length": 5}\n[1,2]', "not a JSON object"),
        (b'{"type": "audio-chunk", "payload_length": 100}\n' + b"\x00" * 10, "middle"),
        (b'{"type": "info"', "middle of an event"),
        (b"a" * (wyoming.MAX_HEADER_BYTES + 10), "header is over"),
        (b'{"type": "info", "data": "x"}\n', "not a JSON object"),
        (b'{"type": "x"}\n\xff\xfe\n', None),  # the first event is fine; see below
    ],
)
def test_hostile_frames_end_in_one_clear_line(raw, why):
    if why is None:
        assert read(raw) == wyoming.Event("x")
        return
    with pytest.raises(wyoming.ProtocolError) as caught:
        read(raw)
    assert why in caught.value.message
    assert "\n" not in caught.value.one_line()


@pytest.mark.parametrize(
    "data",
    [
        {"rate": 16000, "width": 4, "channels": 1},
        {"rate": 96000, "width": 2, "channels": 1},
        {"rate": 16000, "width": 2, "channels": 0},
        {"rate": "fast", "width": 2, "channels": 1},
        {"width": 2, "channels": 1},
    ],
)
def test_audio_parley_cannot_take_is_refused(data):
    with pytest.raises(wyoming.ProtocolError, match="audio"):
        wyoming.chunk_format(wyoming.Event("audio-chunk", data, b"\x00\x00"))


def test_a_chunk_of_half_samples_is_refused():
    chunk = wyoming.Event("audio-chunk", wyoming.audio_format(16000), b"\x00\x00\x00")
    with pytest.raises(wyoming.ProtocolError, match="whole samples"):
        wyoming.chunk_format(chunk)
