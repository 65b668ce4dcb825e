"""Has the user finished? Smart Turn v3.2 hears it in how the sentence ended.

A silence window alone cannot tell "What is the capital of ... France?" from
"What is the capital of France?": both pause. Smart Turn (pipecat-ai's
BSD-2-Clause model, an int8 ONNX file of 8.7 MB) reads the last 8 s of the
utterance as Whisper-style log-mel features and gives the probability that the
turn is complete, from intonation and wording. Parley asks it once a short
silence has begun; "complete" ends the turn then, "incomplete" keeps listening
up to a longer ceiling (endpoint.py).

The model ships inside the ``pipecat-ai`` wheel, which Parley installs with
``--no-deps`` (like the starter models) and only reads the file from: nothing of
pipecat is imported. The features come from faster-whisper's own extractor
(the same transform: checked against the reference to 6e-7).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from desktop.engine.audio.samples import STT_RATE
from desktop.errors import ModelError

log = logging.getLogger(__name__)

PACKAGE = "pipecat-ai"
MODEL_IN_PACKAGE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
WINDOW_S = 8  # the model reads the last 8 s, left-padded with silence
COMPLETE_ABOVE = 0.5


def find_model() -> Path | None:
    """The model file of the installed pipecat-ai wheel, or None when it is not there."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(str(distribution(PACKAGE).locate_file(MODEL_IN_PACKAGE)))
    except PackageNotFoundError:
        return None
    return path if path.is_file() else None


class SmartTurn:
    """One ONNX session on one thread; ``probability`` takes 16 kHz float32 audio."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # a damaged or foreign file: onnxruntime's own errors
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"the turn model {Path(path).name} cannot be loaded: {why}") from exc
        self._features = FeatureExtractor(80, chunk_length=WINDOW_S)
        self.path = Path(path)

    def probability(self, audio: np.ndarray) -> float:
        """How likely the speaker has finished their turn at the end of ``audio``."""
        size = WINDOW_S * STT_RATE
        window = np.zeros(size, np.float32)
        tail = audio[-size:].astype(np.float32)
        window[size - tail.size :] = tail
        window = (window - window.mean()) / np.sqrt(window.var() + 1e-7)
        features = self._features(window, padding=0)[np.newaxis].astype(np.float32)
        (output,) = self._session.run(None, {"input_features": features})
        return float(np.asarray(output).reshape(-1)[0])

    def complete(self, audio: np.ndarray) -> bool:
        return self.probability(audio) > COMPLETE_ABOVE


def load_smart_turn(threads: int = 1) -> SmartTurn | None:
    """The turn model if its package is installed; None (and why, in the log) if not."""
    path = find_model()
    if path is None:
        log.info("Smart Turn is not installed (%s): endpoints wait on silence alone", PACKAGE)
        return None
    return SmartTurn(path, threads)
