"""Whisper decoding options for live questions: word error rate and time, side by side.

Why: tiny.en mishears a word or two in ten espeak questions from run to run,
and the voice loop decodes a 10 s window (stt.py) where whisper's own path reads
30 s. This speaks the built-in questions in four espeak voices (the bench voice
first), cut the way the endpointer cuts them (320 ms before, 160 ms after), and
decodes each with greedy and beam search on both windows.

    python bench/stt_decoding.py [--questions N] [--voices N] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.corpus import QUESTIONS, VOICE, VOICES, speak  # noqa: E402
from desktop.config import Settings  # noqa: E402
from desktop.engine.audio.samples import load_audio  # noqa: E402
from desktop.engine.speech.stt import DECODE_OPTIONS, Transcriber  # noqa: E402
from desktop.engine.speech.wer import word_error_rate  # noqa: E402
from desktop.library import registry  # noqa: E402

VOICES = [VOICE, *VOICES]  # the one tiny.en hears best first, then the corpus's others


def as_cut_live(audio: np.ndarray) -> np.ndarray:
    """Pre-roll before the voice and the trailing pause the endpointer keeps."""
    voiced = np.flatnonzero(np.abs(audio) > 0.01)
    body = audio[voiced[0] : voiced[-1] + 1]
    return np.concatenate([np.zeros(5120, np.float32), body, np.zeros(2560, np.float32)])


def decoders(stt: Transcriber) -> dict:
    def full(beam: int):
        options = {**DECODE_OPTIONS, "beam_size": beam}
        return lambda audio: " ".join(
            s.text.strip() for s in stt.model.transcribe(audio, language="en", **options)[0]
        )

    def short(beam: int):
        def decode(audio: np.ndarray) -> str:
            saved = DECODE_OPTIONS["beam_size"]
            DECODE_OPTIONS["beam_size"] = beam
            try:
                return stt._decode_short_window(audio)
            finally:
                DECODE_OPTIONS["beam_size"] = saved

        return decode

    return {
        "10 s window, greedy": short(1),
        "10 s window, beam 5": short(5),
        "30 s window, greedy": full(1),
        "30 s window, beam 5": full(5),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="first N questions")
    parser.add_argument("--voices", type=int, default=len(VOICES), help="first N espeak voices")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("espeak-ng"):
        sys.exit("bench: espeak-ng is needed to speak the questions")
    questions, voices = QUESTIONS[: max(1, args.questions)], VOICES[: max(1, args.voices)]
    stt = Transcriber(registry.resolve("stt", Settings()).path)
    with tempfile.TemporaryDirectory() as scratch:
        clips = []  # (voice, reference, audio)
        for v, voice in enumerate(voices):
            for i, text in enumerate(questions):
                wav = Path(scratch) / f"v{v}q{i}.wav"
                speak(text, wav, voice)
                clips.append((v, text, as_cut_live(load_audio(wav))))
    results = {}
    for name, decode in decoders(stt).items():
        per_voice: dict[int, list] = {}
        times = []
        for v, text, audio in clips:
            started = time.perf_counter()
            heard = decode(audio)
            times.append(1000.0 * (time.perf_counter() - started))
            per_voice.setdefault(v, []).append((text, heard))
        wers = [round(word_error_rate(pairs), 3) for pairs in per_voice.values()]
        results[name] = {
            "wer_per_voice": wers,
            "wer_mean": round(statistics.mean(wers), 3),
            "ms_p50": round(statistics.median(times), 1),
        }
    if args.json:
        print(json.dumps({"questions": len(clips), **results}))
    else:
        print(f"{len(clips)} questions ({len(voices)} voices x {len(questions)}), tiny.en int8")
        for name, r in results.items():
            print(
                f"{name:22s} WER {r['wer_mean']:.3f} (per voice {r['wer_per_voice']}), "
                f"p50 {r['ms_p50']:.0f} ms a question"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
