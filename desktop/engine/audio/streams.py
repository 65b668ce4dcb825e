"""Live audio: one duplex PortAudio stream for the microphone and the speaker.

The microphone and the speaker run in one stream so that every block of
microphone audio comes with the block that was played at the same moment:
the echo canceller needs exactly that pair. Audio moves at the device's own
rate and is resampled to 16 kHz (soxr) off the audio thread; the PortAudio
callback only copies memory.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from desktop.engine.audio.samples import STT_RATE
from desktop.errors import AudioError

log = logging.getLogger(__name__)

FRAME_16K = 160  # 10 ms at 16 kHz: the unit of echo cancellation


def _sounddevice():  # noqa: ANN202 - the module, imported late: PortAudio may be missing
    try:
        import sounddevice
    except OSError as exc:
        raise AudioError("audio is unavailable: the PortAudio library is not installed") from exc
    return sounddevice


PULSE_LATENCY_MS = 30  # asked of PulseAudio (and PipeWire's pulse server), both ways
REVIVALS_IN_A_ROW = 3  # a stream that keeps ending at once is reported, not reopened
REVIVAL_WINDOW_S = 2.0
CLOSE_WAIT_S = 1.0  # for a dead stream to close before a new one opens
BACKLOG_WARN_BLOCKS = 50  # 10 ms blocks: half a second behind
SPINNING_LOAD = 0.5  # the callback thread's share of a core: it normally takes a few %
LOAD_EVERY_BLOCKS = 100  # look at it once a second
STALL_S = 1.5  # no callback for this long: the stream is stuck, reopen it
WATCH_EVERY_S = 0.25


@dataclass(frozen=True)
class Devices:
    """The chosen input and output devices (PortAudio indices) and their rate."""

    input: int | None
    output: int | None
    rate: int
    input_name: str
    output_name: str


def list_devices() -> tuple[list[str], list[str]]:
    """The names of the input and output devices, for the settings dialog."""
    try:
        sd = _sounddevice()
        devices = sd.query_devices()
    except (AudioError, Exception):  # noqa: BLE001 - no PortAudio, or no host API at all
        log.info("cannot list audio devices", exc_info=True)
        return [], []
    inputs = [d["name"] for d in devices if d["max_input_channels"] > 0]
    outputs = [d["name"] for d in devices if d["max_output_channels"] > 0]
    return inputs, outputs


def find_devices(input_name: str = "", output_name: str = "") -> Devices:
    """Pick devices by (part of) their name, or the system defaults.

    Raises AudioError naming what is missing: no microphone means text-only
    mode for the caller, not a crash.
    """
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as exc:
        raise AudioError(f"cannot list audio devices: {exc}") from exc

    def pick(name: str, kind: str) -> int | None:
        channels = "max_input_channels" if kind == "input" else "max_output_channels"
        if name:
            for index, device in enumerate(devices):
                if name.lower() in device["name"].lower() and device[channels] > 0:
                    return index
            raise AudioError(
                f"no {kind} device named {name!r}", "choose another device in the settings"
            )
        try:
            return sd.query_devices(kind=kind)["index"]
        except (sd.PortAudioError, ValueError):
            return None

    microphone, speaker = pick(input_name, "input"), pick(output_name, "output")
    if microphone is None:
        raise AudioError("no microphone was found", "Parley stays in text mode; plug one in")
    if speaker is None:
        raise AudioError("no speaker or headphones were found", "replies stay text only")
    rate = int(devices[microphone]["default_samplerate"])
    return Devices(microphone, speaker, rate, devices[microphone]["name"], devices[speaker]["name"])


HeardCallback = Callable[[float], None]  # the perf_counter() time a sound reached the speaker


def heard_times(playback: Playback, sounded_at: float) -> list[tuple[HeardCallback, float]]:
    """The chunks that began in the block just read, with when each first sounded;
    ``sounded_at`` is when the block's first sample does."""
    started, playback.started = playback.started, []
    return [(callback, sounded_at + offset / playback.rate) for callback, offset in started]


class Playback:
    """Audio waiting to be played, at the device rate; the callback drains it."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._chunks: list[np.ndarray] = []
        self._on_heard: list[HeardCallback | None] = []  # one per chunk
        self._offset = 0
        self.started: list[tuple[HeardCallback, int]] = []  # (callback, sample in the block)
        self._lock = threading.Lock()
        self.queued_samples = 0
        self.held = False  # paused: queued audio waits (a voice may be starting over it)

    @property
    def queued_seconds(self) -> float:
        """How much audio is still to play."""
        return self.queued_samples / self.rate

    @property
    def holding(self) -> bool:
        """Held with audio still to play: the speaker is paused, not done."""
        return self.held and self.queued_samples > 0

    def add(self, audio: np.ndarray, rate: int, on_heard: HeardCallback | None = None) -> None:
        """Queue int16 or float32 mono audio at any rate. ``on_heard`` learns (from the
        stream, off its callback) when the first sample of it reached the speaker."""
        import soxr

        samples = audio.astype(np.float32) / (32768.0 if audio.dtype == np.int16 else 1.0)
        if rate != self.rate:
            samples = soxr.resample(samples, rate, self.rate).astype(np.float32)
        with self._lock:
            self._chunks.append(samples)
            self._on_heard.append(on_heard)
            self.queued_samples += samples.size

    def clear(self) -> int:
        """Drop everything queued (barge-in); returns how many samples were dropped."""
        with self._lock:
            self.held = False
            dropped = self.queued_samples
            self._chunks.clear()
            self._on_heard.clear()
            self._offset = 0
            self.queued_samples = 0
        return dropped

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` (zeros where nothing is queued, or held); returns the samples of audio.
        A chunk that begins here and wants to know is added to ``started``."""
        filled = 0
        with self._lock:
            while not self.held and filled < out.size and self._chunks:
                chunk = self._chunks[0]
                if self._offset == 0 and self._on_heard[0] is not None:
                    self.started.append((self._on_heard[0], filled))
                    self._on_heard[0] = None
                take = min(out.size - filled, chunk.size - self._offset)
                out[filled : filled + take] = chunk[self._offset : self._offset + take]
                filled += take
                self._offset += take
                if self._offset >= chunk.size:
                    self._chunks.pop(0)
                    self._on_heard.pop(0)
                    self._offset = 0
            self.queued_samples -= filled
        out[filled:] = 0.0
        return filled


class QueuedSpeaker:
    """The speaker half of an audio port: what it plays waits in ``self.playback``."""

    playback: Playback

    def play(self, audio: np.ndarray, rate: int, on_heard: HeardCallback | None = None) -> None:
        self.playback.add(audio, rate, on_heard)

    @property
    def queued_seconds(self) -> float:
        """Speech handed to the speaker and not played yet."""
        return self.playback.queued_seconds

    def clear(self) -> int:
        """Silence the speaker now: what is queued is dropped (barge-in, Stop)."""
        return self.playback.clear()

    def hold(self, on: bool) -> None:
        """Pause the speaker, keeping what is queued (True), or play on (False)."""
        self.playback.held = on


def _close_quietly(stream) -> None:  # noqa: ANN001 - a sounddevice.Stream
    try:
        stream.close()
    except Exception:  # it is already dead; closing it may fail too
        log.debug("closing the dead audio stream failed", exc_info=True)


@dataclass(frozen=True)
class _Block:
    """What one PortAudio callback hands the worker."""

    mic: np.ndarray
    played: np.ndarray
    captured_at: float  # perf_counter() when mic's first sample was captured
    heard: list[tuple[HeardCallback, float]]  # sounds that began in played, and when


class DuplexStream(QueuedSpeaker):
    """Microphone in and speaker out, delivered as time-aligned 16 kHz block pairs.

    ``on_block(mic, played)`` runs on a worker thread with float32 16 kHz arrays
    of equal length (a multiple of 10 ms): what the microphone heard and what
    the speaker was given at the same moment.
    """

    def __init__(
        self,
        devices: Devices,
        on_block: Callable[[np.ndarray, np.ndarray], None],
        on_failure: Callable[[AudioError], None] | None = None,
    ) -> None:
        self.devices = devices
        self.playback = Playback(devices.rate)
        self._on_block = on_block
        self._on_failure = on_failure
        self._blocks: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self._stream = None
        self._worker: threading.Thread | None = None
        self.playing = False  # True while the speaker has audio to play
        self.input_delay_ms = 0.0  # how old the newest microphone block is, per PortAudio
        self._input_delay_floor_ms = float("inf")  # the least it has been since opening
        self._callback_thread: int | None = None  # its OS id, seen from the callback
        self.callback_load = 0.0  # that thread's share of a core over the last second
        self.block_captured_at = 0.0  # perf_counter() when on_block's first mic sample was heard
        self._latencies = (0.0, 0.0)  # PortAudio's input and output latency, in seconds
        self.revivals = 0  # times the stream ended by itself and was opened again
        self._life = threading.Lock()  # stop() and a revival never overlap
        self._stopping = False
        self._revived_at: list[float] = []  # time.monotonic() of recent revivals
        self._last_callback = 0.0  # time.monotonic() of the newest callback, or of opening
        self._given_up_on: object = None  # the stream being closed for a new one
        self.stalls = 0  # times the stream stopped calling back and was reopened
        self._closers: list[threading.Thread] = []  # dead streams being closed

    @property
    def latency_ms(self) -> float:
        """Input plus output latency PortAudio reports: the echo's delay at least."""
        if self._stream is None:
            return 0.0
        latency = self._stream.latency
        return 1000.0 * (latency[0] + latency[1])

    @property
    def input_lag_ms(self) -> float:
        """How much older the microphone's audio arrives now than at its best since opening.

        It only ever grows: with PulseAudio (through ALSA), each speaker underrun of
        the duplex stream left the microphone's audio a little later for good, and
        over a long session every endpoint came hundreds of ms late. Reopening the
        stream starts afresh (see VoiceLoop).
        """
        if self._input_delay_floor_ms == float("inf"):
            return 0.0
        return max(0.0, self.input_delay_ms - self._input_delay_floor_ms)

    @property
    def callback_spinning(self) -> bool:
        """PortAudio's own thread is burning a core: reopen the stream.

        Seen through PulseAudio's ALSA plugin on the 2-core test VM: after some
        speaker underruns the callback thread kept one core busy (90-100 %, from
        ~5 %) until the stream was reopened, for minutes at a time; every turn
        meanwhile was slower and cost twice the CPU (bench/soak.py --verbose,
        cpu_ms_by_thread). Other programs on ALSA report the same busy poll after
        an underrun.
        """
        return self.callback_load > SPINNING_LOAD

    def start(self) -> None:
        self._open()
        self._worker = threading.Thread(target=self._work, name="parley-audio", daemon=True)
        self._worker.start()
        threading.Thread(target=self._watch, name="parley-audio-watch", daemon=True).start()
        log.info(
            "audio: %s / %s at %d Hz, latency %.0f ms",
            self.devices.input_name,
            self.devices.output_name,
            self.devices.rate,
            self.latency_ms,
        )

    def _open(self) -> None:
        sd = _sounddevice()
        rate = self.devices.rate
        # Through ALSA's pulse plugin, a capture stream that asks PulseAudio for no
        # particular latency gets the microphone in large fragments; one that arrives
        # all at once overruns the small ALSA buffer PortAudio set up, its capture
        # poll fails and the stream ends. On a plain PulseAudio server that happened
        # within seconds, again after every reopen (bench/voice_latency.py); asking for
        # 30 ms fragments (libpulse reads this when a stream connects; a user's own
        # value wins), no stream ended in 20 questions.
        os.environ.setdefault("PULSE_LATENCY_MSEC", str(PULSE_LATENCY_MS))
        try:
            stream = sd.Stream(
                samplerate=rate,
                blocksize=rate // 100,
                device=(self.devices.input, self.devices.output),
                channels=1,
                dtype="float32",
                latency="low",
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._latencies = tuple(stream.latency)
            self._last_callback = time.monotonic()
            self._callback_thread = None  # a new stream calls back from a new thread
            self._stream = stream
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(f"cannot open the audio devices: {exc}") from exc

    def stop(self) -> None:
        with self._life:
            self._stopping = True
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # closing a vanished device can fail; nothing to save
                log.debug("closing the audio stream failed", exc_info=True)
        self._blocks.put(None)
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=2)
        # A dead stream still closing must be closed before PortAudio is shut down at
        # exit (a test saw that race end in a segfault); one stuck for good is left.
        for closer in self._closers:
            if closer is not threading.current_thread():
                closer.join(CLOSE_WAIT_S)

    def _callback(self, indata, outdata, frames, time_info, status) -> None:  # noqa: ANN001
        now = time.perf_counter()
        self._last_callback = time.monotonic()
        if self._callback_thread is None:
            self._callback_thread = threading.get_native_id()
        played = outdata[:, 0]
        self.playing = self.playback.read_into(played) > 0 or self.playback.holding
        # PortAudio's stream clock says when this block's first microphone sample was
        # captured and when its first speaker sample will sound; only the differences
        # to its currentTime are used, so its clock's origin does not matter.
        in_latency, out_latency = self._latencies
        if time_info.inputBufferAdcTime > 0:
            delay = time_info.currentTime - time_info.inputBufferAdcTime
            self.input_delay_ms = 1000.0 * delay
            self._input_delay_floor_ms = min(self._input_delay_floor_ms, self.input_delay_ms)
        else:
            delay = frames / self.devices.rate + in_latency
        if time_info.outputBufferDacTime > 0:
            ahead = time_info.outputBufferDacTime - time_info.currentTime
        else:
            ahead = out_latency
        heard = heard_times(self.playback, now + ahead) if self.playback.started else []
        self._blocks.put(_Block(indata[:, 0].copy(), played.copy(), now - delay, heard))

    def _finished(self) -> None:
        stream = self._stream
        # Ended by itself: not by stop(), nor by a revival closing it.
        if stream is not None and stream is not self._given_up_on:
            threading.Thread(
                target=self._revive, args=(stream,), name="parley-revive", daemon=True
            ).start()

    def _watch(self) -> None:
        """Reopen a stream that is open but no longer calls back.

        Seen once in CI (bench/soak.py): from the moment it opened, the engine burned
        a whole core and its voice loop heard nothing for minutes; no block came, so
        nothing that looks at blocks (callback_spinning, input_lag_ms) could notice.
        PortAudio's thread busy-polling ALSA's pulse plugin without ever delivering a
        block looks like that, and a finished stream that never said so would too.
        """
        while not self._stopping:
            time.sleep(WATCH_EVERY_S)
            stream = self._stream
            silent_s = time.monotonic() - self._last_callback
            if stream is None or self._stopping or stream is self._given_up_on:
                continue
            if silent_s > STALL_S:
                self.stalls += 1
                log.warning("audio: no audio from the device for %.1f s; reopening it", silent_s)
                self._revive(stream, "stopped calling back")

    def _revive(self, dead: object, why: str = "ended by itself (an underrun?)") -> None:
        """The stream ended by itself: open it again at once, keeping the speech queued.

        PortAudio's ALSA stream gives up after an xrun through PulseAudio's plugin
        (its poll fails and the stream thread ends) although the device is still
        there. The user should hear at most a gap, not lose the reply. A device that
        cannot be opened again, or a stream that keeps ending at once, is reported
        as gone (the voice loop then retries every second).
        """
        if dead is not self._stream:
            return
        self._given_up_on = dead
        # Closing a dead stream was seen to block (one ended by abort() from another
        # thread): wait a moment, never forever, so a hung close cannot stop recovery.
        closer = threading.Thread(target=_close_quietly, args=(dead,), daemon=True)
        self._closers = [c for c in self._closers if c.is_alive()] + [closer]
        closer.start()
        closer.join(CLOSE_WAIT_S)
        if closer.is_alive():
            log.warning("audio: the dead stream did not close in %.0f s; reopening", CLOSE_WAIT_S)
        now = time.monotonic()
        self._revived_at = [at for at in self._revived_at if now - at < REVIVAL_WINDOW_S]
        with self._life:
            if self._stopping or self._stream is not dead:
                return  # stop() came first
            if len(self._revived_at) >= REVIVALS_IN_A_ROW:
                failure = AudioError(f"it ended {REVIVALS_IN_A_ROW} times in a row")
                self._stream = None
            else:
                failure = self._reopen()
        if failure is None:
            self._revived_at.append(now)
            self.revivals += 1
            log.warning("audio: the stream %s; reopened at once", why)
            return
        log.warning("audio: the stream %s and is not reopened: %s", why, failure)
        self._blocks.put(None)
        if self._on_failure is not None:
            self._on_failure(AudioError("the audio device stopped (unplugged?)"))

    def _reopen(self) -> AudioError | None:
        """Open the stream again (with the lifecycle lock held): None, or why not."""
        try:
            self._open()
        except AudioError as exc:
            self._stream = None
            return exc
        return None

    def _work(self) -> None:
        import soxr

        from desktop.engine.os_threads import ThreadLoad, name_this_thread

        name_this_thread()

        rate = self.devices.rate
        mic_resampler = soxr.ResampleStream(rate, STT_RATE, 1, dtype="float32")
        ref_resampler = soxr.ResampleStream(rate, STT_RATE, 1, dtype="float32")
        mic_rest = np.zeros(0, np.float32)
        ref_rest = np.zeros(0, np.float32)
        behind = False
        load: ThreadLoad | None = None
        blocks = 0
        while (block := self._blocks.get()) is not None:
            mic, ref = block.mic, block.played
            blocks += 1
            thread = self._callback_thread
            if blocks % LOAD_EVERY_BLOCKS == 0 and thread is not None:
                if load is None or load.native_id != thread:  # first look, or reopened
                    load = ThreadLoad(thread)
                self.callback_load = load.share()
            # Blocks waiting here are microphone audio not yet heard: everything the
            # loop decides (endpoint, barge-in) comes that much late. Logged, so a
            # long session that slows down can be told apart from a slow model.
            waiting = self._blocks.qsize()
            if waiting >= BACKLOG_WARN_BLOCKS and not behind:
                behind = True
                log.warning("audio: processing is %d ms behind the microphone", waiting * 10)
            elif waiting <= 1 and behind:  # within a block of the microphone again
                behind = False
                log.info("audio: processing has caught up with the microphone")
            if rate != STT_RATE:
                mic = mic_resampler.resample_chunk(mic)
                ref = ref_resampler.resample_chunk(ref)
                held_back = mic_resampler.delay() / STT_RATE
            else:
                held_back = 0.0
            mic_rest = np.concatenate((mic_rest, mic))
            ref_rest = np.concatenate((ref_rest, ref))
            # The newest sample out of the resampler was captured at the end of this
            # block less what soxr still holds back (8-21 ms at 48 kHz: uncounted, the
            # stream's own figure came out that much short of the room's recording).
            block_end = block.captured_at + block.mic.size / rate
            for callback, sounded_at in block.heard:
                callback(sounded_at)
            usable = min(mic_rest.size, ref_rest.size) // FRAME_16K * FRAME_16K
            if usable == 0:
                continue
            self.block_captured_at = block_end - held_back - mic_rest.size / STT_RATE
            mic_out, mic_rest = mic_rest[:usable], mic_rest[usable:]
            ref_out, ref_rest = ref_rest[:usable], ref_rest[usable:]
            try:
                self._on_block(mic_out, ref_out)
            except Exception:  # a bug downstream must not silence the microphone
                log.exception("processing a microphone block failed")
