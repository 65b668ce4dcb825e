"""Live voice over a real sound server: PulseAudio with a virtual microphone and
speaker, reached through PortAudio exactly as on a desktop.

Questions are spoken into the virtual microphone in real time; Parley listens
and answers through its real audio streams; the virtual speaker is recorded
and transcribed. Only the room is virtual: no fake of Parley's code.
"""

import threading
import time

import numpy as np
import pytest

from desktop.engine.audio.samples import STT_RATE, load_audio
from desktop.engine.audio.streams import DuplexStream, find_devices
from desktop.engine.conversation.voice_loop import VoiceLoop
from desktop.engine.events import Failure, Level, Transcript, TurnResult
from desktop.engine.speech.wer import word_errors
from desktop.errors import AudioError
from tests import audio_server
from tests.conftest import run_parley, to_16k, words


class Live:
    """A voice loop on the default (virtual) devices, with its events recorded."""

    def __init__(self, assistant, **options):
        assistant.reset()
        self.events = []
        self.lock = threading.Lock()
        devices = find_devices()
        self.loop = VoiceLoop(
            assistant,
            lambda on_block, on_failure: DuplexStream(devices, on_block, on_failure),
            self._record,
            earcons=False,
            **options,
        )

    def _record(self, event):
        with self.lock:
            self.events.append(event)

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]

    def finals(self):
        return [e.text for e in self.of(Transcript) if e.final]

    def wait_for_answers(self, count: int, timeout: float = 30.0, until_quiet: bool = True):
        """Until ``count`` turns are done and (unless told otherwise) Parley has been
        quiet for a moment."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            done = len(self.of(TurnResult)) >= count
            done = done and not (until_quiet and self.loop.speaking)
            quiet_since = (quiet_since or time.monotonic()) if done else None
            if quiet_since and time.monotonic() - quiet_since > 0.6:
                return self.of(TurnResult)
            time.sleep(0.05)
        told = [e for e in self.events if not isinstance(e, Level)]
        raise AssertionError(f"no {count} answers in {timeout} s: {told[-12:]}")

    def wait_for_state(self, name: str, timeout: float = 20.0):
        from desktop.engine.events import State

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.name == name for e in self.of(State)):
                return
            time.sleep(0.02)
        raise AssertionError(f"never {name}")


@pytest.fixture
def live(virtual_audio, assistant):
    sessions = []

    def start(**options):
        session = Live(assistant, **options)
        session.loop.start()
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.loop.stop()
    assistant.reset()


def speaker_text(assistant, wav_path):
    samples, rate = audio_server.read_wav(wav_path)
    if samples.ndim > 1:
        samples = samples[:, audio_server.SPEAKER_CHANNEL]
    audio = to_16k((samples * 32767).astype(np.int16), rate)
    return assistant.stt.transcribe_raw(audio)


def test_hands_free_turn_through_the_sound_server(live, virtual_audio, assistant, say, tmp_path):
    session = live()
    recording = virtual_audio.record_speaker(tmp_path / "speaker.wav")
    virtual_audio.play_into_mic(say("What is the capital of France?", "capital"))
    (result,) = session.wait_for_answers(1)
    path = recording.stop()
    assert {"capital", "france"} <= set(words(result.transcript))
    assert result.reply and not result.cancelled
    heard = speaker_text(assistant, path)
    errors, size = word_errors(result.reply, heard)
    assert errors <= size // 3, (result.reply, heard)


def test_push_to_talk(live, virtual_audio, say):
    session = live(hands_free=False)
    session.loop.press()
    virtual_audio.play_into_mic(say("How many legs does a spider have?", "spider"))
    time.sleep(0.2)
    session.loop.release()
    (result,) = session.wait_for_answers(1)
    assert {"many", "legs"} <= set(words(result.transcript))


INTERRUPTION = "What is the capital of France?"


def test_barge_in_stops_parley_and_answers_the_new_question(live, virtual_audio, say, tmp_path):
    session = live()
    recording = virtual_audio.record_mic_and_speaker(tmp_path / "room.wav")
    with virtual_audio.echo_loopback(gain_db=-10, latency_ms=40):
        virtual_audio.play_into_mic(say("Tell me a long story about a dragon.", "story"))
        session.wait_for_state("speaking")
        time.sleep(1.0)
        # Not the spider question: its first words mix with Parley's voice, and tiny.en
        # then misheard "does a spider" in 4 of 5 file-room barge-ins (and once here:
        # "I'm Annie Lank, gonna find her, have"). "capital of France" came through in
        # 5 of 5 there, yet once in CI "France" was lost. How well barge-in questions
        # are heard is measured by bench/voice_latency.py (WER); this test is about
        # stopping and answering, so it allows what the hands-free test allows: a
        # third of the words wrong.
        virtual_audio.play_into_mic(say(INTERRUPTION, "capital"))
        # The second reply may go on for a minute (the model carries on the story):
        # listen to it for a few seconds, with its echo, then press Stop.
        results = session.wait_for_answers(2, until_quiet=False)
        time.sleep(3.0)
        session.loop.stop_speaking()
        time.sleep(0.5)
    path = recording.stop()
    assert session.loop.barge_ins, "Parley did not stop for the user"
    assert results[0].cancelled
    errors, size = word_errors(INTERRUPTION, session.finals()[1])
    assert errors <= size // 3, session.finals()[1]
    assert session.loop.turns_started == 2, session.finals()  # its own voice started no turn
    # Known defect, measured by bench/voice_latency.py ("barge-ins on its own
    # voice"): about one run in five, echo left over by the canceller makes
    # Parley stop its second reply too. It never becomes a turn (asserted above).
    # On the recording: Parley's voice stops soon after the interruption starts.
    room, rate = audio_server.read_wav(path)
    mic, speaker = room[:, audio_server.MIC_CHANNEL], room[:, audio_server.SPEAKER_CHANNEL]
    talking = np.flatnonzero(np.abs(speaker) > 0.02)
    gaps = np.flatnonzero(np.diff(talking) > rate // 2)  # the silence the barge-in made
    assert gaps.size, "Parley never stopped talking"
    stopped_at = talking[gaps[0]]
    interrupted_at = stopped_at - int(0.6 * rate)  # the interruption began shortly before
    assert np.abs(mic[interrupted_at:stopped_at]).max() > 0.05


def test_parley_never_answers_its_own_voice(live, virtual_audio, say):
    session = live()
    with virtual_audio.echo_loopback(gain_db=-10, latency_ms=40):
        virtual_audio.play_into_mic(say("Tell me a fun fact about the ocean.", "ocean"))
        session.wait_for_answers(1)
        time.sleep(1.5)
    assert session.loop.turns_started == 1
    assert len(session.finals()) == 1


def test_silence_and_noise_never_become_a_turn(live, virtual_audio, tmp_path):
    session = live()
    rng = np.random.default_rng(5)
    noise = np.concatenate(
        [np.zeros(STT_RATE // 2), rng.normal(0, 0.05, 3 * STT_RATE), np.zeros(STT_RATE)]
    )
    path = audio_server.write_wav(tmp_path / "noise.wav", noise.astype(np.float32), STT_RATE)
    virtual_audio.play_into_mic(path)
    time.sleep(1.5)
    assert session.loop.turns_started == 0
    assert not session.of(Failure)


def test_no_microphone_is_a_clear_message(virtual_audio):
    with audio_server.use_env(virtual_audio.no_microphone_env()):
        with pytest.raises(AudioError, match="no microphone"):
            find_devices()


def test_hands_free_chat_without_a_microphone_falls_back_to_text(virtual_audio):
    done = run_parley(
        "chat", "--hands-free", env={**virtual_audio.no_microphone_env()}, input_text="Hello!\n"
    )
    assert done.returncode == 0, done.stderr
    assert "no microphone" in done.stderr
    assert done.stdout.count("parley> ") == 1


def test_spoken_question_file_still_answers_while_the_server_runs(virtual_audio, assistant, say):
    # The same engine answers a WAV file with the sound server up: no device grabbed.
    result = assistant.run_turn(audio=load_audio(say("Why is the sky blue?", "sky")))
    assert "sky" in words(result.transcript)


def hands_free_chat(env: dict | None = None):
    """`parley chat --hands-free` as a user starts it, on the virtual devices."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    return subprocess.Popen(
        [sys.executable, "-m", "desktop", "chat", "--hands-free"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_hands_free_chat_command_hears_and_answers(virtual_audio, say):
    question = say("What is the capital of France?", "capital")
    chat = hands_free_chat()
    try:
        time.sleep(6)  # loading the models
        virtual_audio.play_into_mic(question)
        time.sleep(5)
        out, err = chat.communicate("/quit\n", timeout=30)
    finally:
        chat.kill()
    assert chat.returncode == 0, err
    assert "Speak any time" in err
    you = [line for line in out.splitlines() if line.startswith("you> ")]
    assert len(you) == 1 and "capital" in words(you[0]), out
    assert "parley> " in out


def test_hands_free_chat_tells_the_time_and_rings_a_timer_by_voice(
    virtual_audio, tmp_path, assistant
):
    """Issue 19's "done when", as a user does it: `parley chat --hands-free`, the time
    asked and a five-second timer set by voice through the sound server; the answer
    and the timer's message are heard on the speaker (recorded and transcribed)."""
    from bench.corpus import speak

    # The default American voice at 150 words a minute: tiny.en hears "Set a timer"
    # from it (from the f3 fixture voice it hears "Share to timer").
    time_question = speak("What time is it?", tmp_path / "time.wav", ("en-us", 150))
    timer_request = speak("Set a timer for five seconds.", tmp_path / "timer.wav", ("en-us", 150))
    recording = virtual_audio.record_mic_and_speaker(tmp_path / "room.wav")
    chat = hands_free_chat({"PARLEY_HOME": str(tmp_path / "home")})
    try:
        time.sleep(8)  # loading the models
        virtual_audio.play_into_mic(time_question)
        time.sleep(4)
        virtual_audio.play_into_mic(timer_request)
        time.sleep(14)  # the reply, five seconds, the chime and the message
        out, err = chat.communicate("/quit\n", timeout=30)
    finally:
        chat.kill()
    path = recording.stop()
    assert chat.returncode == 0, err
    replies = [line for line in out.splitlines() if line.startswith("parley> ")]
    assert any(line.startswith("parley> It's ") for line in replies), out
    assert "parley> Timer set for 5 seconds." in out, out
    assert "⏰ Your 5 second timer is done." in out, out
    room, rate = audio_server.read_wav(path)
    speaker = room[:, audio_server.SPEAKER_CHANNEL]
    last = speaker[-int(8 * rate) :]  # the timer's chime and message end the recording
    heard = set(words(assistant.stt.transcribe_raw(to_16k((last * 32767).astype(np.int16), rate))))
    assert "done" in heard, heard
