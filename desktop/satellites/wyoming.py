"""The Wyoming protocol's framing, read with limits a hostile peer cannot push past.

A Wyoming event is one JSON line (``type``, optional ``data``, ``data_length``,
``payload_length``), then ``data_length`` bytes of more JSON data, then
``payload_length`` bytes of payload (audio). The reference library trusts the
lengths it is sent; a hub on a network must not, so every part has a ceiling
and a peer that breaks one gets a ProtocolError (one line, for the log) and
its connection closed, while the other satellites carry on.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from desktop.errors import ParleyError

VERSION = "1.4.1"  # the protocol version wyoming-satellite 1.0 speaks
MAX_HEADER_BYTES = 64 * 1024
MAX_DATA_BYTES = 256 * 1024
MAX_PAYLOAD_BYTES = 1024 * 1024  # 32 s of 16 kHz 16-bit audio in one chunk: far above any sent


class ProtocolError(ParleyError):
    """The peer broke the protocol (the message says how); its connection is closed."""


@dataclass
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    payload: bytes | None = None


def _length(header: dict[str, Any], key: str, ceiling: int) -> int:
    value = header.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{key} is not a length: {value!r}"[:120])
    if value > ceiling:
        raise ProtocolError(f"{key} {value} is over the limit of {ceiling} bytes")
    return value


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"the {what} is not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(value, dict):
        raise ProtocolError(f"the {what} is not a JSON object")
    return value


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, or None when the peer closed the connection cleanly.

    The reader must have been made with ``limit=MAX_HEADER_BYTES`` (see
    ``open_connection``) so that a header line without an end cannot grow."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("the connection closed in the middle of an event") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(f"an event header is over {MAX_HEADER_BYTES} bytes") from exc
    header = _json_object(line, "event header")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("an event has no type")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise ProtocolError(f"the data of {kind!r} is not a JSON object")
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
    try:
        if data_length:
            data = {**data, **_json_object(await reader.readexactly(data_length), "event data")}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(f"the connection closed in the middle of {kind!r}") from exc
    return Event(kind, data, payload)


def encode(event: Event) -> bytes:
    header: dict[str, Any] = {"type": event.type, "version": VERSION}
    data = json.dumps(event.data, ensure_ascii=False).encode() if event.data else b""
    if data:
        header["data_length"] = len(data)
    if event.payload:
        header["payload_length"] = len(event.payload)
    line = json.dumps(header, ensure_ascii=False).encode() + b"\n"
    return line + data + (event.payload or b"")


async def write_event(writer: asyncio.StreamWriter, event: Event) -> None:
    writer.write(encode(event))
    await writer.drain()


async def open_connection(
    host: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES)


# -- the events the hub sends and reads ---------------------------------------------------

AUDIO_RATE = 16000  # what the hub hears at: the satellite's microphone, resampled if not


def audio_format(rate: int, width: int = 2, channels: int = 1) -> dict[str, int]:
    return {"rate": rate, "width": width, "channels": channels}


def audio_chunk(pcm: bytes, rate: int, timestamp_ms: int | None = None) -> Event:
    data: dict[str, Any] = audio_format(rate)
    if timestamp_ms is not None:
        data["timestamp"] = timestamp_ms
    return Event("audio-chunk", data, pcm)


def chunk_format(event: Event) -> tuple[int, int, int]:
    """(rate, width, channels) of an audio chunk, checked: Parley takes 16-bit PCM,
    mono or more channels (the first is used), at 8-48 kHz."""
    try:
        rate, width, channels = (int(event.data[k]) for k in ("rate", "width", "channels"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError("an audio chunk has no rate, width and channels") from exc
    if width != 2 or not 1 <= channels <= 8 or not 8000 <= rate <= 48000:
        raise ProtocolError(
            f"unsupported audio: {rate} Hz, {width * 8}-bit, {channels} channels "
            "(Parley takes 16-bit PCM at 8-48 kHz)"
        )
    payload = event.payload or b""
    if len(payload) % (width * channels):
        raise ProtocolError("an audio chunk's payload is not whole samples")
    return rate, width, channels
