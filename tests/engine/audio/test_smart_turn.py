"""Smart Turn v3.2, the real model from the pipecat-ai wheel (installed --no-deps)."""

import numpy as np
import pytest

from desktop.engine.audio import smart_turn
from desktop.engine.audio.samples import STT_RATE
from desktop.errors import ModelError


@pytest.fixture(scope="module")
def model():
    loaded = smart_turn.load_smart_turn()
    assert loaded is not None, "pipecat-ai is not installed (make test installs it)"
    return loaded


def spoken(assistant, text: str) -> np.ndarray:
    import soxr

    tts = assistant.tts
    voice = tts.synthesize(text).astype(np.float32) / 32768.0
    audio = soxr.resample(voice, tts.sample_rate, STT_RATE).astype(np.float32)
    end = np.flatnonzero(np.abs(audio) > 0.01)[-1] + 1
    return np.concatenate([np.zeros(STT_RATE // 2, np.float32), audio[:end], np.zeros(3200)])


def test_a_whole_question_in_parleys_own_voice_is_a_finished_turn(model, assistant):
    audio = spoken(assistant, "What is the capital of France?")
    assert model.probability(audio) > smart_turn.COMPLETE_ABOVE


def test_any_length_of_audio_is_judged_on_its_last_eight_seconds(model, assistant):
    question = spoken(assistant, "How many legs does a spider have?")
    long = np.concatenate([np.zeros(12 * STT_RATE, np.float32), question])
    for audio in (question[-STT_RATE // 4 :], question, long):
        assert 0.0 <= model.probability(audio) <= 1.0
    # 12 s of silence before it are outside the window: the same judgement.
    assert abs(model.probability(long) - model.probability(question)) < 1e-4


def test_a_damaged_model_file_is_a_one_line_model_error(tmp_path):
    broken = tmp_path / "smart-turn.onnx"
    broken.write_bytes(b"not an onnx model" * 100)
    with pytest.raises(ModelError) as raised:
        smart_turn.SmartTurn(broken)
    assert "smart-turn.onnx cannot be loaded" in raised.value.message
    assert "\n" not in raised.value.message


def test_without_its_package_there_is_no_model_and_no_error(monkeypatch):
    monkeypatch.setattr(smart_turn, "PACKAGE", "no-such-package-for-parley")
    assert smart_turn.find_model() is None and smart_turn.load_smart_turn() is None
