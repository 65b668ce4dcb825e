"""The live voice loop: listen, endpoint, answer aloud, and stop when interrupted.

Threads, and why:
- the audio worker (DuplexStream) gets time-aligned microphone/speaker blocks;
  here it cancels echo, meters the level and runs the endpointer. It never
  waits on a model.
- the STT worker transcribes early: as soon as the user pauses (so little is
  left to do at the endpoint) and every few hundred ms for live captions.
- the turn worker runs one Assistant turn at a time and queues its speech. A
  turn may begin on the early transcript, before the endpoint: its events wait
  in a ReplyAhead gate until the endpoint comes, and are dropped if the user
  speaks again first (reply_ahead.py).

Barge-in: speech from the user while Parley talks clears the speaker queue and
cancels the turn. With echo cancellation off, the microphone is gated while
Parley talks (half duplex), so it can never answer itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from desktop.engine.audio.digital_silence import DigitalSilenceWatch
from desktop.engine.audio.echo_path import EchoPath
from desktop.engine.audio.endpoint import (
    Ending,
    Endpointer,
    EndpointSettings,
    SilenceStarted,
    SpeechResumed,
    SpeechStarted,
    UtteranceDropped,
    UtteranceEnded,
)
from desktop.engine.audio.mic_clock import MicClock
from desktop.engine.audio.onset import SpeakerPause
from desktop.engine.audio.samples import STT_RATE, level_dbfs, voice_ends_at
from desktop.engine.conversation import stream_upkeep
from desktop.engine.conversation.alarms import (
    due_on_perf_clock,
    start_timer_clock,
    stop_timer_clock,
)
from desktop.engine.conversation.own_voice import OwnVoice
from desktop.engine.conversation.reply_ahead import ReplyAhead, ReplyAheadSlot
from desktop.engine.conversation.spoken_approval import (
    APPROVAL_WAIT_S,
    answer_of,
    question_for,
)
from desktop.engine.conversation.turn import Assistant
from desktop.engine.conversation.turn_end import ending_of, punctuation_ending
from desktop.engine.events import (
    Alarm,
    Event,
    Failure,
    Heard,
    Level,
    Notice,
    Speech,
    State,
    Transcript,
    VoiceActivity,
)
from desktop.engine.os_threads import name_this_thread
from desktop.engine.skills.skills import ring_words
from desktop.engine.skills.timers import Timer
from desktop.errors import AudioError, ParleyError
from desktop.native_heap import give_back_freed

log = logging.getLogger(__name__)

PARTIAL_EVERY_S = 0.7
LEVEL_EVERY_BLOCKS = 5  # 50 ms
HALF_DUPLEX_TAIL_S = 0.3  # the room still rings after the speaker stops
ECHO_TAIL_S = 0.5  # speech starting later than this after Parley fell silent is not its echo


class AudioPort(Protocol):
    """What the loop needs from live audio: DuplexStream, or a file-backed stand-in."""

    playing: bool
    latency_ms: float
    queued_seconds: float

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def play(
        self, audio: np.ndarray, rate: int, on_heard: Callable[[float], None] | None = None
    ) -> None: ...
    def clear(self) -> int: ...
    def hold(self, on: bool) -> None: ...


AudioFactory = Callable[
    [Callable[[np.ndarray, np.ndarray], None], Callable[[AudioError], None]], AudioPort
]


@dataclass
class _HeardClock:
    """One spoken turn's moments, for its Heard event (perf_counter times)."""

    voice_ended_at: float | None = None
    endpoint_at: float | None = None
    queued_at: float | None = None  # the first clause went to the speaker

    def heard(self, sounded_at: float) -> Heard | None:
        if self.voice_ended_at is None or self.endpoint_at is None or self.queued_at is None:
            return None

        def ms(seconds: float) -> float:
            return round(seconds * 1000.0, 1)

        return Heard(
            voice_to_voice_ms=ms(sounded_at - self.voice_ended_at),
            endpoint_ms=ms(self.endpoint_at - self.voice_ended_at),
            reply_ms=ms(self.queued_at - self.endpoint_at),
            audio_path_ms=ms(sounded_at - self.queued_at),
        )


@dataclass(frozen=True)
class _Question:
    """Work for the turn worker: spoken audio (maybe already transcribed), or typed text."""

    ended_at: float  # the endpoint (perf_counter)
    began_at: float = 0.0  # when the user started speaking (perf_counter)
    voice_ended_at: float | None = None  # when their voice stopped, on the device's clock
    audio: np.ndarray | None = None
    early: Future[str] | None = None
    text: str | None = None
    ahead: ReplyAhead | None = None  # answered before the endpoint, held until it comes


class VoiceLoop:
    """Hands-free or push-to-talk conversation over live audio."""

    def __init__(
        self,
        assistant: Assistant,
        audio_factory: AudioFactory,
        on_event: Callable[[Event], None],
        *,
        hands_free: bool = True,
        echo_cancellation: bool = True,
        endpoint: EndpointSettings | None = None,
        earcons: bool = True,
    ) -> None:
        if assistant.stt is None or assistant.tts is None:
            raise ParleyError("live voice needs a speech-to-text model and a voice")
        self.assistant = assistant
        self.hands_free = hands_free
        self._emit_raw = on_event
        self._emit_lock = threading.Lock()
        self._audio_factory = audio_factory
        self._audio: AudioPort | None = None
        self.endpointer = Endpointer(endpoint)
        self._mic_clock = MicClock()  # when each sample the endpointer heard was captured
        self._echo = EchoPath.open() if echo_cancellation else None
        self._earcons = self._load_earcons() if earcons else {}
        self._stt = ThreadPoolExecutor(
            1, thread_name_prefix="parley-stt", initializer=name_this_thread
        )
        self._questions: queue.SimpleQueue[_Question | None] = queue.SimpleQueue()
        self._turn_thread = threading.Thread(target=self._turns, name="parley-turns", daemon=True)
        self._cancel = threading.Event()
        self._busy = False  # a turn is running
        self._speaking = False  # Parley's voice is (or is about to be) on the speaker
        self._speaker_quiet_at = 0.0
        self._speech_began_at = 0.0
        self._audio_opened_at = 0.0
        self._refreshing = False
        self.audio_refreshes = 0
        self._silence_began_at = 0.0
        self._speculative: Future[str] | None = None
        self._replies = ReplyAheadSlot()  # the pause the user is in, and a reply begun at it
        self._partial_due = 0.0
        self._partial_job: Future[str] | None = None
        self._ptt_frames: list[np.ndarray] | None = None
        self._restart_endpointer = False
        self._blocks = 0
        self._digital_silence = DigitalSilenceWatch()
        self._stopped = threading.Event()
        self._own_voice = OwnVoice()
        self._pause = SpeakerPause()  # barge-in's first reaction (onset.py)
        self.barge_ins: list[float] = []  # perf_counter times, for tests and benchmarks
        self.echoes_ignored: list[str] = []  # what the loop heard of its own voice
        self.turns_started = 0
        self._timer_clock = None  # rings this device's timers and reminders (alarms.py)
        self._approving = False  # a tool's approval was asked aloud: the answer is awaited

    # -- public controls ------------------------------------------------------------------

    @property
    def holds(self) -> list[float]:
        """perf_counter times the speaker was paused on a possible voice."""
        return self._pause.holds

    @property
    def false_holds(self) -> int:
        """Pauses the VAD did not confirm as a voice (the reply played on)."""
        return self._pause.false_holds

    @property
    def replies_ahead(self) -> int:
        """Turns begun on an early transcript that the endpoint let through."""
        return self._replies.kept

    @property
    def replies_ahead_dropped(self) -> int:
        """... and those dropped because the user went on speaking."""
        return self._replies.dropped

    @property
    def echo_renewals(self) -> int:
        """How often the echo canceller was started afresh (echo_path.py)."""
        return 0 if self._echo is None else self._echo.renewals

    @property
    def speaking(self) -> bool:
        """Parley's voice is on the speaker, or a reply is still being written."""
        return self._speaking or self._busy

    def start(self) -> None:
        """Open the devices and listen. Raises AudioError (e.g. no microphone)."""
        self._open_audio()
        self._turn_thread.start()
        self._timer_clock = start_timer_clock(self.assistant, self.ring)
        self._state("listening" if self.hands_free else "idle")
        if self.hands_free:
            self._play_earcon("listen_start")

    def stop(self) -> None:
        """Close the devices and wait for the workers, so the models are free again."""
        self._stopped.set()
        stop_timer_clock(self.assistant, self._timer_clock)
        self._next_pause()  # a reply held for an endpoint that will not come
        self.stop_speaking()
        if self._audio is not None:
            self._audio.stop()
            self._audio = None
        self._questions.put(None)
        if self._turn_thread.is_alive():
            self._turn_thread.join(timeout=15)
        self._stt.shutdown(wait=True, cancel_futures=True)

    def stop_speaking(self) -> None:
        """The Stop button: end the reply and silence the speaker now."""
        self._cancel.set()
        self._pause.end()  # clear() below ends a pause too
        if self._audio is not None:
            self._audio.clear()
        was_speaking, self._speaking = self._speaking, False
        if was_speaking and not self._busy:
            # The reply was written and only its audio was left: no turn will end to
            # say so, and the window would show "speaking" until the next question.
            self._state("listening" if self.hands_free else "idle")

    def ring(self, timer: Timer, late_s: float) -> None:
        """A timer or reminder came due (on the clock's thread): stop the reply, chime at
        once, then say what rang. The Alarm event reports how late the chime sounded."""
        words = ring_words(timer, late_s)
        due_at = due_on_perf_clock(timer)
        self.stop_speaking()
        audio = self._audio
        chime = self._earcons.get("timer")
        if audio is None:
            self._emit(Alarm(timer.id, timer.title, words, round(late_s * 1000.0, 1)))
            return

        def chimed(sounded_at: float) -> None:
            late_ms = round((sounded_at - due_at) * 1000.0, 1)
            self._emit(Alarm(timer.id, timer.title, words, late_ms))

        self._speaking = True
        self._state("speaking")
        if chime is not None:
            audio.play(*chime, on_heard=chimed)
        self._own_voice.said(words)
        speech = self.assistant.tts.synthesize(words)
        if audio is self._audio and not self._stopped.is_set():
            audio.play(speech, self.assistant.tts.sample_rate, on_heard=None if chime else chimed)

    def approve_by_voice(self, server: str, tool: str, arguments: dict) -> str:
        """Ask aloud whether a tool of an MCP server may run, on the turn's thread, and
        read the next thing the user says (or types) as the answer."""
        tts, audio = self.assistant.tts, self._audio
        question = question_for(server, tool)
        self._approving = True
        try:
            if audio is not None:
                self._own_voice.said(question)
                self._speaking = True
                self._state("speaking")
                audio.play(tts.synthesize(question), tts.sample_rate)
            self._emit(Notice(question))
            deadline = time.monotonic() + APPROVAL_WAIT_S
            while (left := deadline - time.monotonic()) > 0:
                try:
                    asked = self._questions.get(timeout=left)
                except queue.Empty:
                    break
                if asked is None:  # the loop is stopping
                    self._questions.put(None)
                    break
                text = asked.text or self._transcribe_answer(asked)
                answer = answer_of(text)
                if answer is not None:
                    log.info("tool %s/%s: the user said %r (%s)", server, tool, text, answer)
                    return answer
                if text.strip():
                    self._questions.put(asked)  # not an answer: a question of its own
                    break
            return "no"
        finally:
            self._approving = False

    def _transcribe_answer(self, asked: _Question) -> str:
        if asked.audio is None:
            return ""
        try:
            return self.assistant.stt.transcribe_raw(asked.audio)
        except Exception:  # noise or silence: no answer
            return ""

    def set_hands_free(self, on: bool) -> None:
        """Switch between hands-free and push-to-talk while the loop runs."""
        if on == self.hands_free:
            return
        self.hands_free = on
        self._restart_endpointer = True  # done on the audio thread, which owns it
        self._ptt_frames = None
        if not self.speaking:
            self._state("listening" if on else "idle")
        self._play_earcon("listen_start" if on else "listen_end")

    def press(self) -> None:
        """Push-to-talk pressed: start collecting the utterance (and stop Parley talking)."""
        if self._audio is None:
            self._open_audio()
        self._next_pause()
        if self._busy or self._speaking:
            self._barge_in()
        self._ptt_frames = []
        self._speech_began_at = time.perf_counter()
        self._play_earcon("listen_start")
        self._state("listening")

    def release(self) -> None:
        """Push-to-talk released: what was said is the question."""
        frames, self._ptt_frames = self._ptt_frames, None
        self._play_earcon("listen_end")
        if not frames:
            self._state("idle")
            return
        audio, now = np.concatenate(frames), time.perf_counter()
        # The last block came in just now: the voice ended what followed it ago.
        voice_end = now - (audio.size - voice_ends_at(audio)) / STT_RATE
        self._questions.put(_Question(now, self._speech_began_at, voice_end, audio=audio))

    def ask(self, text: str) -> None:
        """A typed question while the loop runs."""
        self._next_pause()
        if self._busy or self._speaking:
            self._barge_in()
        self._questions.put(_Question(time.perf_counter(), text=text))

    # -- audio side -----------------------------------------------------------------------

    def _open_audio(self) -> None:
        # A local: a stream that dies as it starts has already been dropped (and a
        # reopen scheduled) by _on_audio_failure when start() returns.
        audio = self._audio = self._audio_factory(self._on_block, self._on_audio_failure)
        audio.start()
        self._audio_opened_at = time.perf_counter()
        if self._echo is not None:
            self._echo.set_delay_ms(int(audio.latency_ms))

    def _on_audio_failure(self, error: AudioError) -> None:
        self._cancel.set()
        broken, self._audio = self._audio, None
        self._speaking = False
        self._emit(Failure(error.message, "Parley reopens it as soon as it is back"))
        if broken is not None:
            broken.stop()
        if self.hands_free and not self._stopped.is_set():
            threading.Thread(target=self._reopen, name="parley-reopen", daemon=True).start()

    def _reopen(self) -> None:
        stream_upkeep.reopen_until_back(
            self._try_open_audio, lambda: self._audio is not None, self._stopped, self._audio_back
        )

    def _try_open_audio(self) -> None:
        try:
            self._open_audio()
        except AudioError:
            self._audio = None
            raise

    def _audio_back(self) -> None:
        self.endpointer.reset()
        self._emit(Notice("the audio device is back"))
        self._state("listening")

    def _input_went_stale(self, audio: AudioPort, now: float) -> bool:
        """The stream went stale (stream_upkeep.py) and nothing is going on: the
        moment to reopen it."""
        return (
            not self._refreshing
            and stream_upkeep.went_stale(audio, self._audio_opened_at, now)
            and not (audio.playing or self._busy or self._speaking)
            and not self.endpointer.in_speech
            and self._ptt_frames is None
        )

    def _refresh_audio(self, stale: AudioPort) -> None:
        """Close the stream and open a new one (a fresh one starts with no backlog)."""
        why = stream_upkeep.describe_staleness(stale)
        try:
            if self._audio is not stale or self._stopped.is_set():
                return
            self._audio = None
            stale.stop()
            self._open_audio()
            self._restart_endpointer = True
            self.audio_refreshes += 1
            log.info("reopened the audio stream: %s", why)
        except AudioError as exc:
            self._on_audio_failure(exc)
        finally:
            self._refreshing = False

    def _on_block(self, mic: np.ndarray, played: np.ndarray) -> None:
        now = time.perf_counter()
        audio = self._audio
        if audio is not None and self._input_went_stale(audio, now):
            self._refreshing = True
            threading.Thread(
                target=self._refresh_audio, args=(audio,), name="parley-refresh", daemon=True
            ).start()
        if self._digital_silence.feed(mic, now):
            self._emit(
                Notice(
                    "the microphone delivers only digital silence: it may be muted, or "
                    "Parley may lack permission to use it"
                )
            )
        # Endpointing listens to the echo-cancelled signal, so Parley's own voice never
        # starts a turn; whisper gets the untouched microphone signal. Measured on
        # barge-in (FileAudio room, echo at -6 dB): the canceller dulls the user's
        # first half second of talking over Parley so much that whisper misheard
        # 4 words in 7; from the raw signal it heard all 7 in one run of two.
        heard = mic
        if self._echo is not None:
            mic = self._echo.process(mic, played)
        speaker_busy = audio is not None and audio.playing
        if speaker_busy:
            self._speaker_quiet_at = now
        elif self._speaking and not self._busy:
            self._speaking = False
            self._state("listening" if self.hands_free else "idle")
        if audio is not None and self._echo is not None and self.hands_free:
            self._pause.feed(mic, self._speaking, audio, now)
        if self._echo is None and (
            speaker_busy or now - self._speaker_quiet_at < HALF_DUPLEX_TAIL_S
        ):
            mic = np.zeros_like(mic)  # half duplex: never hear ourselves
        self._blocks += 1
        if self._blocks % LEVEL_EVERY_BLOCKS == 0:
            self._emit(Level(round(max(level_dbfs(mic), -100.0), 1)))
        if self._ptt_frames is not None:
            self._ptt_frames.append(heard)
            return
        if not self.hands_free:
            return
        if self._restart_endpointer:
            self._restart_endpointer = False
            self.endpointer.reset()
        self.endpointer.strict = self._speaking or self._busy
        captured_at = getattr(audio, "block_captured_at", 0.0) or now - mic.size / STT_RATE
        self._mic_clock.mark(self.endpointer.samples_pushed, captured_at)
        for event in self.endpointer.push(mic, keep=heard):
            self._on_endpoint(event, now)
        if self.endpointer.in_speech and now >= self._partial_due:
            self._partial_due = now + PARTIAL_EVERY_S
            self._caption_so_far()

    def _on_endpoint(self, event: object, now: float) -> None:
        if isinstance(event, SpeechStarted | UtteranceEnded | UtteranceDropped):
            self._emit(VoiceActivity(isinstance(event, SpeechStarted)))
        voice_ended_at = None
        if isinstance(event, UtteranceEnded):
            voice_ended_at = self._mic_clock.time_of(event.voice_end)
        if isinstance(event, UtteranceEnded) and self._open_reply_ahead(now, voice_ended_at):
            self._speculative = None
            return
        self._next_pause()
        if isinstance(event, SpeechStarted):
            self._speech_began_at = now
            if self._busy or self._speaking:
                self._barge_in()
            self._partial_due = now + PARTIAL_EVERY_S
            self._state("listening")
        elif isinstance(event, SilenceStarted):
            self._silence_began_at = now
            # Whether this pause ends the turn is for its words to say: until they are
            # judged, the endpoint waits (a slow CPU must not cut the user off).
            self.endpointer.ending = Ending.PENDING
            self._speculative = self._stt.submit(
                self._early_transcript, event.audio, self._replies.pause_id, self._speech_began_at
            )
        elif isinstance(event, UtteranceEnded):
            # What a slow endpoint is made of, for long-session diagnosis (bench/soak.py).
            log.info(
                "endpoint: %.0f ms after the pause began; microphone input %.0f ms old",
                1000.0 * (now - self._silence_began_at),
                getattr(self._audio, "input_delay_ms", 0.0),
            )
            self._questions.put(
                _Question(
                    now,
                    self._speech_began_at,
                    voice_ended_at,
                    audio=event.audio,
                    early=self._speculative,
                )
            )
            self._speculative = None
        elif isinstance(event, UtteranceDropped | SpeechResumed):
            self._speculative = None  # (resumed: the early transcript is not all of it)

    def _next_pause(self) -> None:
        """The user spoke again, stopped, or the utterance ended: an early transcript
        still being worked out is for a pause that is over, and a reply begun on one
        is dropped."""
        ahead = self._replies.next_pause()
        if ahead is not None:
            log.info("the user went on after %r: dropped the reply begun on it", ahead.text)

    def _open_reply_ahead(self, now: float, voice_ended_at: float | None) -> bool:
        """The endpoint: let a reply begun on the early transcript through, if there is one."""
        with self._replies.lock:
            ahead = self._replies.take()
            if ahead is None:
                return False
            ahead.clock.voice_ended_at, ahead.clock.endpoint_at = voice_ended_at, now
            # A short reply may have been written and voiced before the endpoint: its
            # turn is over, and a busy flag set now would stay set (no turn ends to
            # clear it), making the next question wait and count as a barge-in.
            self._busy = not ahead.finished
            self._cancel = ahead.cancel
            self.turns_started += 1
            if not ahead.open(now):
                self._busy = False
                return False
        self._replies.kept += 1
        log.info(
            "endpoint: %.0f ms after the pause began; microphone input %.0f ms old; "
            "reply begun %.0f ms before it",
            1000.0 * (now - self._silence_began_at),
            getattr(self._audio, "input_delay_ms", 0.0),
            1000.0 * (now - ahead.started_at),
        )
        return True

    def _begin_reply_ahead(self, text: str, pause_id: int, began_at: float) -> None:
        """Start answering this pause's early transcript before the endpoint comes."""
        if self._busy or self._speaking or not self.hands_free or self._stopped.is_set():
            return
        if not self.assistant.may_answer_ahead(text):
            return  # "speak slower": its reply must be voiced after the change
        if self._could_be_echo(began_at):
            # Talk over Parley (a barge-in, or its own echo slipping through) waits for
            # the endpoint as before: with replies begun ahead there, a live barge-in
            # test saw Parley answer its own echo (2 runs in 25; 0 in 38 without).
            return
        ahead = self._replies.begin(text, pause_id, began_at)
        if ahead is None:
            return  # that pause is over, or already has a reply
        ahead.clock = _HeardClock()
        self._questions.put(_Question(ahead.started_at, began_at, text=text, ahead=ahead))

    def _barge_in(self) -> None:
        self.barge_ins.append(time.perf_counter())
        if not self._approving:  # "yes" over "Shall I …?" answers it, not cancels the turn
            self._cancel.set()
        self._pause.end()  # clear() below ends the pause too
        if self._audio is not None:
            self._audio.clear()
        was_speaking, self._speaking = self._speaking, False
        if was_speaking and not self._busy:
            # The reply was written and only its audio was left: no turn will end to
            # say so, and the window would show "speaking" until the next question.
            self._state("listening" if self.hands_free else "idle")

    def _early_transcript(self, audio: np.ndarray, pause_id: int, began_at: float) -> str:
        """Transcribe at each pause, so the endpoint finds the work already done, and
        begin the reply on it (ReplyAhead: held until the endpoint, dropped if the
        user goes on).

        It must finish within the short silence window to be of use, so it takes
        the fast (10 s) whisper window when that is on: with the 30 s window the
        endpoint waited for it (live benchmark: endpoint p50 480 -> 705 ms).
        """
        try:
            text = self.assistant.stt.transcribe_raw(audio)
        except Exception:
            self._judged(pause_id, Ending.UNKNOWN)  # the usual wait, not the longest
            raise
        if pause_id != self._replies.pause_id:
            return text  # the user spoke again meanwhile: this is not where they stop
        if text:
            self._emit(Transcript(text, final=False))
        if any(ch.isalnum() for ch in text):
            # Whatever the verdict: the reply waits for the endpoint anyway, and begun
            # first, it is not held up by the judging (which the endpoint waits for).
            self._begin_reply_ahead(text, pause_id, began_at)
        self._judged(pause_id, self._judge_ending(text))
        return text

    def _judged(self, pause_id: int, ending: Ending) -> None:
        """The verdict on a pause's words, if that pause is still going on."""
        if pause_id == self._replies.pause_id and self.endpointer.ending is Ending.PENDING:
            self.endpointer.ending = ending

    def _judge_ending(self, text: str) -> Ending:
        """Do the words so far end the turn? The chat model judges (turn_end.py);
        without it, whisper's punctuation does, which cut off users who paused
        mid-sentence: whisper puts a full stop after half a question too."""
        scorer = getattr(self.assistant, "turn_end", None)
        if scorer is None:
            return punctuation_ending(text)
        try:
            probability = scorer.probability(text)
        except RuntimeError:  # llama.cpp failed to decode: the turn goes on without it
            log.warning("could not judge the pause's words; punctuation decides", exc_info=True)
            return punctuation_ending(text)
        ending = ending_of(probability)
        if probability is not None:
            log.debug("pause after %r: sentence end %.4f, %s", text, probability, ending.value)
        return ending

    def _caption_so_far(self) -> None:
        if self._partial_job is not None and not self._partial_job.done():
            return  # one caption job at a time on a small CPU
        audio = self.endpointer.utterance_so_far()
        if audio.size < STT_RATE // 2:
            return
        self._partial_job = self._stt.submit(self._caption, audio)

    def _caption(self, audio: np.ndarray) -> str:
        text = self.assistant.stt.transcribe_raw(audio)
        if text and self.endpointer.in_speech:  # a caption late for its utterance is stale
            self._emit(Transcript(text, final=False))
        return text

    # -- turns ----------------------------------------------------------------------------

    def _turns(self) -> None:
        name_this_thread()
        while (question := self._questions.get()) is not None:
            self._forget_a_dropped_reply()
            try:
                if question.ahead is not None:
                    self._answer(
                        question.text or "",
                        question.ended_at,
                        0.0,
                        question.ahead.clock,
                        question.ahead,
                    )
                elif question.text is not None:
                    self._answer(question.text, question.ended_at, None, None)
                else:
                    self._answer_audio(question)
            except ParleyError as exc:
                self._emit(Failure(exc.message, exc.hint))
            except Exception as exc:  # a bug must not end the conversation
                log.exception("turn failed")
                self._emit(Failure(f"the turn failed: {exc}"))
            finally:
                if question.ahead is not None:
                    with self._replies.lock:  # before _busy is cleared: see _open_reply_ahead
                        question.ahead.finished = True
                self._busy = False
                if not self._speaking:
                    self._state("listening" if self.hands_free else "idle")
                give_back_freed()  # the turn's buffers are freed: let the system have them

    def _forget_a_dropped_reply(self) -> None:
        """A reply begun ahead and then dropped never happened: take it out of the
        conversation."""
        history = self._replies.history_to_restore()
        if history is not None:
            self.assistant.messages = history

    def _could_be_echo(self, began_at: float) -> bool:
        """Only speech that began while Parley talked (or as the room still rang) can
        be its own voice: a user who repeats the reply's words later is asking."""
        return began_at - self._speaker_quiet_at < ECHO_TAIL_S

    def _answer_audio(self, question: _Question) -> None:
        audio, ended_at, early = question.audio, question.ended_at, question.early
        self._busy = True
        self._state("transcribing")
        text = ""
        if early is not None:
            try:
                text = early.result(timeout=10)
            except Exception:  # a failed early transcript just means doing it now
                log.debug("early transcript failed", exc_info=True)
        if not text:
            try:
                text = self.assistant.stt.transcribe(audio, source="what the microphone heard")
            except ParleyError:
                log.info("no speech in the utterance; not a turn")  # noise or silence
                return
        if not any(ch.isalnum() for ch in text):
            return
        if self._could_be_echo(question.began_at) and self._own_voice.heard_again(text):
            log.info("ignored an echo of Parley's own words: %r", text)
            self.echoes_ignored.append(text)
            if self._echo is not None:
                self._echo.renew_soon()
            return
        stt_ms = round((time.perf_counter() - ended_at) * 1000.0, 1)
        clock = _HeardClock(question.voice_ended_at, ended_at)
        self._answer(text, ended_at, stt_ms, clock)

    def _answer(
        self,
        text: str,
        started_at: float,
        stt_ms: float | None,
        clock: _HeardClock | None,
        ahead: ReplyAhead | None = None,
    ) -> None:
        """Run one turn; a reply ahead's events wait in its gate for the endpoint.
        ``clock``: a spoken question's moments, for the Heard event (None: typed)."""
        if ahead is None:
            self._busy = True
            self._cancel = threading.Event()
            self.turns_started += 1
        elif ahead.dropped:
            return
        else:
            self._replies.started(ahead, self.assistant.messages)
        cancel = self._cancel if ahead is None else ahead.cancel
        final = Transcript(text, final=True)

        def deliver(event: Event) -> None:
            if event is final:
                self._emit(event)
            elif isinstance(event, Speech):
                if self._cancel.is_set() or self._audio is None:
                    return
                if not self._speaking:
                    self._speaking = True
                    self._state("speaking")
                self._own_voice.said(event.text)
                on_heard = None
                if clock is not None and clock.queued_at is None:
                    clock.queued_at = time.perf_counter()
                    on_heard = self._report_heard(clock)
                self._audio.play(event.audio, event.sample_rate, on_heard=on_heard)
            if isinstance(event, State) and event.name == "thinking" and not self._speaking:
                self._emit(event)  # the loop owns the other states (speech outlives the turn)
            elif not isinstance(event, Transcript | State):
                self._emit(event)

        def on_event(event: Event) -> None:
            if ahead is None:
                deliver(event)
            else:
                ahead.pass_on(event, deliver)

        on_event(final)
        self.assistant.run_turn(
            text=text,
            speak=True,
            cancel=cancel,
            on_event=on_event,
            started_at=started_at,
            stt_ms=stt_ms,
            speaker_backlog=self._speaker_backlog,
            act_gate=None if ahead is None else ahead.wait_opened,
        )
        self._forget_a_dropped_reply()

    def _report_heard(self, clock: _HeardClock) -> Callable[[float], None]:
        def heard(sounded_at: float) -> None:
            event = clock.heard(sounded_at)
            if event is not None:
                self._emit(event)

        return heard

    def _speaker_backlog(self) -> float:
        """Seconds of speech on the speaker still to play: the turn paces its reply by it."""
        audio = self._audio
        return 0.0 if audio is None else audio.queued_seconds

    # -- helpers --------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        with self._emit_lock:
            self._emit_raw(event)

    def _state(self, name: str) -> None:
        self._emit(State(name))

    def _play_earcon(self, name: str) -> None:
        clip = self._earcons.get(name)
        if clip is not None and self._audio is not None:
            self._audio.play(*clip)

    @staticmethod
    def _load_earcons() -> dict[str, tuple[np.ndarray, int]]:
        try:
            from desktop.engine.audio.earcons import EARCONS, synthesize
        except ImportError:
            return {}
        return {name: (synthesize(name), 22050) for name in EARCONS}
