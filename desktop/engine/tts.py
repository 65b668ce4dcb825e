"""Text to speech over piper, with the ONNX session's threads under our control."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from desktop.engine.clauses import speakable
from desktop.errors import ModelError


class Synthesizer:
    """A loaded piper voice that turns a clause of text into int16 audio."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        config_path: str | os.PathLike | None = None,
        threads: int = 1,
    ) -> None:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        self.model_path = Path(model_path)
        self.config_path = Path(config_path or f"{self.model_path}.json")
        for path in (self.model_path, self.config_path):
            if not path.is_file():
                raise ModelError(
                    f"no voice file at {path}", "a piper voice is a .onnx file with a .onnx.json"
                )
        try:
            config = PiperConfig.from_dict(json.loads(self.config_path.read_text("utf-8")))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ModelError(
                f"the voice config {self.config_path.name} is not valid: {exc}"
            ) from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(
                f"the voice {self.model_path.name} could not be loaded: {exc}"
            ) from exc
        self.voice = PiperVoice(config=config, session=session)
        self.sample_rate = config.sample_rate
        self.synthesize("Ready.")  # warm: the first inference is slow

    def synthesize(self, text: str) -> np.ndarray:
        """Int16 mono audio for ``text``; empty when nothing in it can be spoken."""
        text = speakable(text)
        if not text:
            return np.zeros(0, dtype=np.int16)
        chunks = [chunk.audio_int16_array for chunk in self.voice.synthesize(text)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
