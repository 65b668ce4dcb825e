"""Speech in and out with the real starter voice and whisper model."""

import numpy as np
import pytest

from desktop.engine.audio import load_audio
from desktop.engine.stt import Transcriber
from desktop.engine.tts import Synthesizer
from desktop.errors import AudioError, ModelError
from tests.conftest import to_16k, words


@pytest.mark.parametrize(
    "sentence",
    [
        "The weather is lovely today.",
        "Please remind me to call my sister at six.",
        "How far away is the moon from the earth?",
    ],
)
def test_speech_synthesized_then_transcribed_gives_the_words_back(assistant, sentence):
    audio = assistant.tts.synthesize(sentence)
    assert audio.dtype == np.int16 and audio.size > assistant.tts.sample_rate // 2
    heard = assistant.stt.transcribe(to_16k(audio, assistant.tts.sample_rate))
    assert words(heard) == words(sentence)


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
