"""A satellite's microphone and speaker as the voice loop's AudioPort.

The voice loop that runs a conversation at the desk runs one per satellite too:
same endpointer, early transcript, reply begun at the pause, clause-streamed
speech. This port is all that differs. Microphone chunks arrive from the
network and are fed to the loop on a worker thread (as a sound card's blocks
are); speech the loop plays is sent back as audio-chunk events, paced to the
satellite's playback with a small lead, so that a reply cut short (a barge-in,
Stop) stops within that lead on the device instead of playing to its end from
the satellite's buffer.

The satellite's speaker clock cannot be read over Wyoming, so playback is
estimated: a chunk plays from when it was sent, or right after the chunk
before it. The loop hears no echo reference from a satellite, so it runs half
duplex (the microphone is ignored while the device plays, plus a tail for
the device's own buffer).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from desktop.engine.audio.samples import STT_RATE
from desktop.engine.os_threads import name_this_thread
from desktop.errors import AudioError
from desktop.satellites.wyoming import Event, audio_chunk, audio_format

log = logging.getLogger(__name__)

LEAD_S = 0.5  # speech sent ahead of the device's playback: what a Stop cannot take back
CHUNK_S = 0.064  # 1024 samples at 16 kHz, as the satellite sends its microphone
DEVICE_TAIL_S = 0.4  # the device's own sound buffer, still playing after our estimate
MIC_QUEUE_CHUNKS = 160  # ~10 s of microphone chunks; older ones are dropped past that
NOTHING_S = 1e-4  # less speech queued than this is none (float sums of chunk lengths)

Send = Callable[[Event], None]


def pcm_to_float(pcm: bytes, channels: int) -> np.ndarray:
    samples = np.frombuffer(pcm, "<i2")
    if channels > 1:
        samples = samples[::channels]
    return samples.astype(np.float32) / 32768.0


def pcm_bytes(audio: np.ndarray) -> bytes:
    """16-bit PCM of what the loop plays: int16 (piper, the earcons) as it is, float
    scaled from [-1, 1]."""
    if audio.dtype == np.int16:
        return audio.astype("<i2", copy=False).tobytes()
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class SatellitePort:
    """AudioPort over one satellite connection. ``send`` must be thread-safe and keep
    order (the link schedules each event on its event loop)."""

    latency_ms = 0.0

    def __init__(
        self,
        on_block: Callable[[np.ndarray, np.ndarray], None],
        on_failure: Callable[[AudioError], None],
        send: Send,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._on_block = on_block
        self._on_failure = on_failure
        self._send = send
        self._clock = clock
        self._mic: queue.Queue[tuple[np.ndarray, int] | None] = queue.Queue(MIC_QUEUE_CHUNKS)
        self._speech: queue.Queue[tuple[np.ndarray, int, Callable | None]] = queue.Queue()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queued_s = 0.0  # speech handed to play() and not yet sent
        self._plays_until = 0.0  # clock time the device finishes what was sent
        self._open_rate: int | None = None  # an audio-start was sent at this rate
        self._held = False
        self._generation = 0  # clear() moves it on: a clip being sent stops there
        self._open_until = 0.0  # keep the audio stream open (more speech is coming) till then
        self._stopped = threading.Event()
        self._resampler = None
        self._resampler_rate = STT_RATE
        self.dropped_mic_chunks = 0
        self._threads = [
            threading.Thread(target=self._mic_worker, name="parley-sat-mic", daemon=True),
            threading.Thread(target=self._speaker_worker, name="parley-sat-speaker", daemon=True),
        ]

    # -- AudioPort ------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        with self._lock:
            pending = self._queued_s > NOTHING_S or self._open_rate is not None
        return pending or self._clock() < self._plays_until + DEVICE_TAIL_S

    @property
    def queued_seconds(self) -> float:
        with self._lock:
            return self._queued_s + max(0.0, self._plays_until - self._clock())

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        self.clear()
        try:
            self._mic.put_nowait(None)
        except queue.Full:
            pass
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=2)

    def play(
        self, audio: np.ndarray, rate: int, on_heard: Callable[[float], None] | None = None
    ) -> None:
        with self._lock:
            self._queued_s += audio.size / rate
        self._speech.put((audio, rate, on_heard))
        self._wake.set()

    def keep_open(self, seconds: float) -> None:
        """More speech follows what was played (the reply after "one moment"): do not
        end the device's audio stream in between, for at most ``seconds``; 0 ends the
        wait. (A satellite shows one answer; its user waits for its end to talk.)"""
        with self._lock:
            self._open_until = self._clock() + seconds if seconds > 0 else 0.0

    def clear(self) -> int:
        dropped = 0
        while True:
            try:
                self._speech.get_nowait()
            except queue.Empty:
                break
            dropped += 1
        with self._lock:
            self._generation += 1
            self._open_until = 0.0
            self._queued_s = 0.0
            self._plays_until = min(self._plays_until, self._clock())
            was_open, self._open_rate = self._open_rate, None
        if was_open is not None:
            self._send(Event("audio-stop"))
        self._wake.set()
        return dropped

    def hold(self, on: bool) -> None:
        self._held = on
        self._wake.set()

    # -- microphone -----------------------------------------------------------------------

    def feed(self, pcm: bytes, rate: int, channels: int) -> None:
        """A microphone chunk from the network (checked by wyoming.chunk_format)."""
        item = (pcm_to_float(pcm, channels), rate)
        try:
            self._mic.put_nowait(item)
        except queue.Full:  # the hub cannot keep up: drop the oldest, never grow
            try:
                self._mic.get_nowait()
            except queue.Empty:
                pass
            self.dropped_mic_chunks += 1
            self._mic.put_nowait(item)

    def _to_stt_rate(self, samples: np.ndarray, rate: int) -> np.ndarray:
        if rate == STT_RATE:
            return samples
        if self._resampler is None or self._resampler_rate != rate:
            import soxr

            self._resampler = soxr.ResampleStream(rate, STT_RATE, 1, dtype="float32")
            self._resampler_rate = rate
        return self._resampler.resample_chunk(samples)

    def _mic_worker(self) -> None:
        name_this_thread()
        while (item := self._mic.get()) is not None:
            samples = self._to_stt_rate(*item)
            if samples.size:
                try:
                    self._on_block(samples, np.zeros_like(samples))
                except Exception:  # a bug in one block must not deafen the satellite
                    log.exception("a satellite's microphone block failed")

    # -- speaker --------------------------------------------------------------------------

    def _speaker_worker(self) -> None:
        name_this_thread()
        while not self._stopped.is_set():
            try:
                audio, rate, on_heard = self._speech.get(timeout=0.05)
            except queue.Empty:
                self._close_if_done()
                continue
            self._send_clip(audio, rate, on_heard)

    def _send_clip(self, audio: np.ndarray, rate: int, on_heard: Callable | None) -> None:
        step = max(1, int(CHUNK_S * rate))
        with self._lock:
            generation = self._generation
        for start in range(0, audio.size, step):
            piece = audio[start : start + step]
            while not self._stopped.is_set():
                with self._lock:
                    ahead = self._plays_until - self._clock()
                if ahead <= LEAD_S and not self._held:
                    break
                self._wake.wait(min(0.02, max(0.005, ahead - LEAD_S)))
                self._wake.clear()
            if self._stopped.is_set():
                return
            with self._lock:
                if self._generation != generation:  # cleared while it waited
                    return
                if self._open_rate is None or self._open_rate != rate:
                    if self._open_rate is not None:
                        self._send(Event("audio-stop"))
                    self._open_rate = rate
                    self._send(Event("audio-start", audio_format(rate)))
                now = self._clock()
                sounds_at = max(self._plays_until, now)
                self._plays_until = sounds_at + piece.size / rate
                self._queued_s = max(0.0, self._queued_s - piece.size / rate)
            self._send(audio_chunk(pcm_bytes(piece), rate))
            if start == 0 and on_heard is not None:
                on_heard(sounds_at)

    def _close_if_done(self) -> None:
        """Nothing left to send and the device has played it all: end the audio stream
        (the satellite then closes its player, as after any Wyoming reply)."""
        with self._lock:
            if self._open_rate is None or self._queued_s > NOTHING_S:
                return
            if self._clock() < max(self._plays_until, self._open_until):
                return
            self._open_rate = None
        self._send(Event("audio-stop"))
