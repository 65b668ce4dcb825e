"""Speech in and out with the real starter voice and whisper model."""

import numpy as np
import pytest

from desktop.engine.audio.samples import load_audio
from desktop.engine.speech.stt import Transcriber
from desktop.engine.speech.tts import Synthesizer
from desktop.engine.speech.wer import word_error_rate, word_errors
from desktop.errors import AudioError, ModelError
from tests.conftest import to_16k, words

SENTENCES = [
    "The garden looks lovely in the morning.",
    "Please remind me to call my sister at six.",
    "How far away is the moon from the earth?",
    "Turn off the lights in the kitchen.",
]


def test_speech_synthesized_then_transcribed_gives_the_words_back(assistant):
    # Piper adds random noise to every rendering and tiny.en slips now and then
    # ("weather's", "Half our way"): judge the word error rate over all the
    # sentences, and no sentence may lose half of its words.
    pairs = []
    for sentence in SENTENCES:
        audio = assistant.tts.synthesize(sentence)
        assert audio.dtype == np.int16 and audio.size > assistant.tts.sample_rate // 2
        heard = assistant.stt.transcribe(to_16k(audio, assistant.tts.sample_rate))
        errors, size = word_errors(sentence, heard)
        assert errors < size / 2, heard
        pairs.append((sentence, heard))
    assert word_error_rate(pairs) <= 0.15, pairs


def test_espeak_question_is_transcribed(assistant, say):
    heard = assistant.stt.transcribe(load_audio(say("What is the capital of France?")))
    assert {"capital", "france"} <= set(words(heard))


def test_silence_is_refused_not_transcribed(assistant):
    with pytest.raises(AudioError, match="silent"):
        assistant.stt.transcribe(np.zeros(32000, dtype=np.float32))


def test_noise_without_speech_is_refused(assistant):
    # Whisper turns noise into invented words ("Thank you."); the VAD must stop it first.
    noise = np.random.default_rng(1).normal(0, 0.05, 48000).astype(np.float32)
    with pytest.raises(AudioError, match="no speech"):
        assistant.stt.transcribe(noise)


def test_text_without_speakable_content_gives_no_audio(assistant):
    assert assistant.tts.synthesize("🙂 ** ``").size == 0


def test_missing_whisper_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no speech-to-text model"):
        Transcriber(tmp_path)


def test_broken_whisper_model_is_a_model_error(tmp_path, starter):
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        (tmp_path / name).write_bytes((starter["stt"] / name).read_bytes())
    (tmp_path / "model.bin").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match="could not be loaded"):
        Transcriber(tmp_path)


def test_broken_voice_is_a_model_error(tmp_path, starter):
    onnx = tmp_path / "voice.onnx"
    onnx.write_bytes(b"not an onnx model")
    (tmp_path / "voice.onnx.json").write_bytes(
        starter["tts"].with_suffix(".onnx.json").read_bytes()
    )
    with pytest.raises(ModelError, match="could not be loaded"):
        Synthesizer(onnx)


def test_missing_voice_config_is_a_model_error(tmp_path, starter):
    onnx = tmp_path / "voice.onnx"
    onnx.write_bytes(starter["tts"].read_bytes())
    with pytest.raises(ModelError, match="no voice file"):
        Synthesizer(onnx)


def test_short_window_agrees_with_the_full_window_on_a_clear_question(assistant, say):
    audio = load_audio(say("How many legs does a spider have?"))
    assert assistant.stt.short_window
    assert words(assistant.stt.transcribe_raw(audio)) == words(
        assistant.stt.transcribe_full_window(audio)
    )


def test_recording_longer_than_the_short_window_is_transcribed_whole(assistant, say):
    text = (
        "Please write down a shopping list for the weekend. We need bread, butter, "
        "cheese, apples, oranges, tomatoes, rice, pasta, coffee, tea and some chocolate "
        "for the children, and please remember the milk."
    )
    audio = load_audio(say(text))
    assert audio.shape[0] / 16000 > 10
    heard = words(assistant.stt.transcribe(audio))
    assert heard[:4] == ["please", "write", "down", "a"]
    assert "milk" in heard[-3:]


def test_loop_detector():
    from desktop.engine.speech.stt import looks_looped

    assert looks_looped("What is the capital of France? What is the capital of France?", 2.5)
    assert looks_looped("yes " * 40, 2.0)  # far more words than 2 s can hold
    assert not looks_looped("What is the capital of France?", 2.5)
    assert not looks_looped("I think that I think that is fine", 3.0)


def test_a_looping_short_window_falls_back_to_the_full_window(assistant, say, monkeypatch):
    audio = load_audio(say("What is the capital of France?"))
    looped = "What is the capital of France? What is the capital of France?"
    monkeypatch.setattr(assistant.stt, "_decode_short_window", lambda _audio: looped)
    assert words(assistant.stt.transcribe_raw(audio)) == words("What is the capital of France?")


MEMORY_PROBE = """
import random, sys
from desktop.library import registry
from desktop.engine.speech.tts import Synthesizer
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
path = next(e.path for e in registry.starter_models() if e.role == "tts")
tts = Synthesizer(path, threads=1)
words = "the garden looks lovely in the morning when birds sing and rain falls".split()
rng = random.Random(1)
before = rss()
for _ in range(12):
    tts.synthesize(" ".join(rng.choice(words) for _ in range(rng.randint(20, 35))) + ".")
grown = rss()
tts.release_memory()
print((grown - before) // 1024, (rss() - before) // 1024)
"""


def test_the_voice_gives_its_memory_back_after_a_reply():
    """piper kept the buffers of its longest sentence (and the heap stayed large):
    about +250 MB after a dozen long sentences, for the rest of the session."""
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE], cwd=REPO, capture_output=True, text=True, check=True
    )
    grown_mb, kept_mb = map(int, done.stdout.split())
    assert grown_mb > 100, "the probe's sentences should have needed memory"
    assert kept_mb < 40, f"{kept_mb} MB kept after release_memory (grew by {grown_mb} MB)"
