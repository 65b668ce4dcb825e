"""The virtual sound card itself: what tests and benchmarks rely on, proved with real audio.

sounddevice is imported inside the tests: PortAudio lists devices when it is
initialised, and the virtual_audio fixture must have set the environment first
(it also re-initialises PortAudio, see refresh_portaudio()).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.audio_server import (
    MIC_CHANNEL,
    MIC_IN,
    RATE,
    SPEAKER,
    SPEAKER_CHANNEL,
    onset,
    read_wav,
    reap_stale_servers,
    use_env,
    write_wav,
)

REPO = Path(__file__).resolve().parent.parent


def tone(hz: float, seconds: float, rate: int = RATE, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def peak_db(samples: np.ndarray) -> float:
    """Peak level: unlike RMS, it does not drop when a starved CPU leaves gaps."""
    return float(20 * np.log10(np.abs(samples).max() + 1e-12))


def in_child(code: str, env: dict[str, str]) -> dict:
    """Run Python in a fresh process with env; it prints one JSON object."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


DEVICES = """
import json, sounddevice as sd
def default(kind):
    try:
        return sd.query_devices(kind=kind)["name"]
    except (sd.PortAudioError, ValueError):
        return None
devices = sd.query_devices()
print(json.dumps({
    "input": default("input"),
    "output": default("output"),
    "inputs": [d["name"] for d in devices if d["max_input_channels"] > 0],
    "outputs": [d["name"] for d in devices if d["max_output_channels"] > 0],
    "hostapis": sorted({sd.query_hostapis(d["hostapi"])["name"] for d in devices}),
}))
"""

OPEN_STREAMS = """
import json, sounddevice as sd
opened = []
for rate in (16000, 48000):
    for stream in (sd.InputStream, sd.OutputStream, sd.Stream):
        with stream(samplerate=rate, channels=1):
            opened.append(f"{stream.__name__}@{rate}")
print(json.dumps({"opened": opened}))
"""


def test_portaudio_in_a_child_sees_default_input_and_output(virtual_audio):
    seen = in_child(DEVICES, virtual_audio.env)
    assert seen["input"] in ("default", "pulse"), seen
    assert seen["output"] in ("default", "pulse"), seen
    assert seen["hostapis"] == ["ALSA"], seen

    opened = in_child(OPEN_STREAMS, virtual_audio.env)["opened"]
    assert len(opened) == 6, opened


@pytest.mark.parametrize("rate", [48000, 16000])
def test_a_tone_played_into_the_mic_reaches_an_input_stream(virtual_audio, tmp_path, rate):
    import sounddevice as sd

    wav = write_wav(tmp_path / "tone.wav", tone(1000, 0.3))
    blocks: list[np.ndarray] = []
    with sd.InputStream(
        samplerate=rate, channels=1, callback=lambda data, *_: blocks.append(data[:, 0].copy())
    ):
        virtual_audio.play_into_mic(wav)
        time.sleep(0.15)
    heard = np.concatenate(blocks)
    start = onset(heard, 0.1)
    assert start is not None, "the tone never reached the microphone"
    voiced = heard[start : start + int(0.25 * rate)]
    assert abs(peak_hz(voiced, rate) - 1000) < 20
    assert abs(peak_db(voiced) - peak_db(tone(1000, 0.25))) < 1.5


@pytest.mark.parametrize("rate", [48000, 22050])
def test_sounddevice_playback_lands_on_the_speaker(virtual_audio, tmp_path, rate):
    import sounddevice as sd

    recorder = virtual_audio.record_speaker(tmp_path / "speaker.wav")
    sd.play(tone(700, 0.3, rate), rate, blocking=True)
    recorded, recorded_rate = read_wav(recorder.stop())
    assert recorded_rate == RATE
    start = onset(recorded, 0.1)
    assert start is not None, "nothing played reached the speaker"
    played = recorded[start : start + int(0.25 * RATE)]
    assert abs(peak_hz(played, RATE) - 700) < 20
    assert abs(peak_db(played) - peak_db(tone(700, 0.25))) < 1.5


def play_and_record_room(audio, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Play a tone through the app's speaker; return (microphone, speaker) as recorded."""
    import sounddevice as sd

    recorder = audio.record_mic_and_speaker(path)
    sd.play(tone(500, 0.4), RATE, blocking=True)
    time.sleep(0.15)  # the echo arrives a little later
    room, _ = read_wav(recorder.stop())
    return room[:, MIC_CHANNEL], room[:, SPEAKER_CHANNEL]


def test_echo_loopback_carries_the_speaker_into_the_mic_until_it_ends(virtual_audio, tmp_path):
    with virtual_audio.echo_loopback(gain_db=-10, latency_ms=40):
        mic, speaker = play_and_record_room(virtual_audio, tmp_path / "echo.wav")
    played, echoed = onset(speaker, 0.1), onset(mic, 0.01)
    assert played is not None and echoed is not None, "no echo in the microphone"
    assert 20 <= (echoed - played) / RATE * 1000 <= 80, "echo latency far from 40 ms"
    window = slice(int(0.05 * RATE), int(0.3 * RATE))
    gain = peak_db(mic[echoed:][window]) - peak_db(speaker[played:][window])
    assert abs(gain - -10) < 1.5

    mic, speaker = play_and_record_room(virtual_audio, tmp_path / "no-echo.wav")
    assert onset(speaker, 0.1) is not None
    assert np.abs(mic).max() < 1e-3, "the echo outlived its with-block"


def test_the_room_recording_keeps_mic_and_speaker_on_one_timeline(virtual_audio, tmp_path):
    # One stream fanned out to the microphone and the speaker at once
    # (module-combine-sink): each click must land on both channels together.
    clicks = np.zeros(int(0.6 * RATE), dtype=np.float32)
    starts = [int((0.1 + 0.15 * k) * RATE) for k in range(3)]
    for start in starts:
        clicks[start : start + 48] = 0.8
    wav = write_wav(tmp_path / "clicks.wav", clicks)
    both = "parley_test_both"
    with virtual_audio.module(
        "module-combine-sink",
        sink_name=both,
        slaves=f"{MIC_IN},{SPEAKER}",
        channels=1,
        channel_map="mono",
    ):
        recorder = virtual_audio.record_mic_and_speaker(tmp_path / "room.wav")
        virtual_audio.play_into(both, wav)
        time.sleep(0.05)
        room, _ = read_wav(recorder.stop())

    def click_onsets(channel: np.ndarray) -> np.ndarray:
        loud = (np.abs(channel) > 0.3).astype(int)
        return np.flatnonzero(np.diff(loud) == 1)

    mic, speaker = click_onsets(room[:, MIC_CHANNEL]), click_onsets(room[:, SPEAKER_CHANNEL])
    assert len(mic) == len(speaker) == 3, (mic, speaker)
    assert np.all(np.abs(mic - speaker) / RATE * 1000 < 15), (mic, speaker)


def test_an_instant_reply_lands_just_after_the_question_on_the_room_timeline(
    virtual_audio, tmp_path
):
    # A duplex stream, as Parley uses, that answers in the very callback that
    # first hears the question: on the room recording the answer must start
    # after the question, by no more than the stream's round trip.
    import sounddevice as sd

    question = write_wav(tmp_path / "question.wav", tone(1000, 0.3))
    answer = tone(600, 0.2)
    heard = {"at": None}

    def reflex(indata, outdata, frames, _time, _status):
        outdata[:] = 0
        if heard["at"] is None and np.abs(indata).max() > 0.1:
            heard["at"] = 0
        if heard["at"] is not None:
            chunk = answer[heard["at"] : heard["at"] + frames]
            outdata[: len(chunk), 0] = chunk
            heard["at"] += frames

    recorder = virtual_audio.record_mic_and_speaker(tmp_path / "room.wav")
    # 50 ms, not 'low': a raw PortAudio stream asking for the least died in ALSA
    # (its capture poll failed) in 2 of 2 full runs of the suite, once a DuplexStream
    # test had run before it (Parley's own stream reopens itself; this one cannot).
    with sd.Stream(samplerate=RATE, channels=1, callback=reflex, latency=0.05) as stream:
        virtual_audio.play_into_mic(question)
        time.sleep(0.6)  # the whole answer, even when the CPU is busy
        round_trip = sum(stream.latency)
    room, _ = read_wav(recorder.stop())
    asked, answered = onset(room[:, MIC_CHANNEL], 0.1), onset(room[:, SPEAKER_CHANNEL], 0.1)
    assert asked is not None and answered is not None
    assert 0 < (answered - asked) / RATE < round_trip + 0.05


def test_no_microphone_leaves_portaudio_without_input_but_with_a_speaker(virtual_audio):
    seen = in_child(DEVICES, virtual_audio.no_microphone_env())
    assert seen["inputs"] == [] and seen["input"] is None, seen
    assert seen["output"] in ("default", "pulse"), seen
    played = in_child(
        "import json, numpy, sounddevice as sd\n"
        "sd.play(numpy.zeros(4800, 'float32'), 48000, blocking=True)\n"
        "print(json.dumps({}))",
        virtual_audio.no_microphone_env(),
    )
    assert played == {}

    nothing = in_child(DEVICES, virtual_audio.no_devices_env())
    assert nothing["inputs"] == [] and nothing["outputs"] == [], nothing


def test_portaudio_follows_the_environment_after_a_refresh(virtual_audio):
    import sounddevice as sd

    with use_env(virtual_audio.no_microphone_env()):
        with pytest.raises((sd.PortAudioError, ValueError)):
            sd.query_devices(kind="input")
    assert sd.query_devices(kind="input")["name"] in ("default", "pulse")


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's PID 1 may never reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


STARTS_AND_HANGS = """
import json, time
from tests.audio_server import VirtualAudio
began = time.monotonic()
audio = VirtualAudio().start()
print(json.dumps({"folder": str(audio.folder), "daemon": audio._daemon.pid,
                  "seconds": time.monotonic() - began}), flush=True)
time.sleep(60)
"""


def test_a_crashed_run_leaves_nothing_behind_the_next_start(virtual_audio):
    child = subprocess.Popen(
        [sys.executable, "-c", STARTS_AND_HANGS], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        started = json.loads(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)  # no atexit, no cleanup: a crash
        child.wait()
    assert started["seconds"] < 2
    assert running(started["daemon"])

    reap_stale_servers()  # what every start() does first

    for _ in range(100):
        if not running(started["daemon"]):
            break
        time.sleep(0.02)
    assert not running(started["daemon"]), "stale daemon still running"
    assert not Path(started["folder"]).exists()
    assert virtual_audio.socket.is_socket(), "a live harness was reaped"
