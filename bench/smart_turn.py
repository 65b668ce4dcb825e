"""Does Smart Turn v3.2 tell a finished question from one paused mid-sentence?

    python bench/smart_turn.py [--json]

Each built-in question is spoken whole by piper (the starter voice) and by
espeak-ng voices, and also cut at a word boundary part-way through (the word
timings come from faster-whisper), as a user who pauses to think would leave
it: same voice, same intonation up to the pause. Both get 200 ms of trailing
silence, as the endpointer would hand them over. Figures: the share of whole
questions the model calls complete (p > 0.5), the share of cut ones it calls
incomplete, and the time of one call on one thread.

This is the check that decides whether the endpointer may end a turn on the
model's word (desktop/engine/audio/smart_turn.py): a model that calls a cut
question complete would cut the user off at the first pause.
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import QUESTIONS, speak  # noqa: E402
from desktop.config import Settings  # noqa: E402
from desktop.engine.audio.samples import STT_RATE, load_audio  # noqa: E402
from desktop.engine.audio.smart_turn import COMPLETE_ABOVE, load_smart_turn  # noqa: E402
from desktop.engine.speech.stt import Transcriber  # noqa: E402
from desktop.engine.speech.tts import Synthesizer  # noqa: E402
from desktop.library import registry  # noqa: E402

ESPEAK_VOICES = [("en-us", 160), ("en-gb", 160), ("en-gb-scotland", 170), ("en-029+f4", 140)]
LEAD = np.zeros(STT_RATE // 2, np.float32)
TRAIL = np.zeros(STT_RATE // 5, np.float32)  # the 200 ms of silence before it is asked


def piper_voice(tts: Synthesizer, text: str) -> np.ndarray:
    import soxr

    audio = tts.synthesize(text).astype(np.float32) / 32768.0
    return soxr.resample(audio, tts.sample_rate, STT_RATE).astype(np.float32)


def whole_and_cut(stt: Transcriber, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The question up to its last loud sample, and cut before a word past its middle."""
    segments, _ = stt.model.transcribe(audio, language="en", word_timestamps=True)
    words = [word for segment in segments for word in segment.words]
    if len(words) < 4:
        return None
    cut = int(words[len(words) // 2 + 1].start * STT_RATE)
    end = int(np.flatnonzero(np.abs(audio) > 0.01)[-1]) + 1
    return (
        np.concatenate([LEAD, audio[:end], TRAIL]),
        np.concatenate([LEAD, audio[:cut], TRAIL]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = load_smart_turn()
    if model is None:
        sys.exit("bench: Smart Turn is not installed (pip install --no-deps pipecat-ai)")
    settings = Settings()
    stt = Transcriber(registry.resolve("stt", settings).path)
    tts = Synthesizer(registry.resolve("tts", settings).path)
    sources: dict[str, list[np.ndarray]] = {"piper": [piper_voice(tts, q) for q in QUESTIONS]}
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as scratch:
            for voice in ESPEAK_VOICES:
                name = f"espeak {voice[0]}@{voice[1]}"
                sources[name] = [
                    load_audio(speak(q, Path(scratch) / f"{i}.wav", voice))
                    for i, q in enumerate(QUESTIONS)
                ]
    rows, times = [], []
    for name, clips in sources.items():
        whole_ok = cut_ok = n = 0
        for audio in clips:
            pair = whole_and_cut(stt, audio)
            if pair is None:
                continue
            started = time.perf_counter()
            p_whole = model.probability(pair[0])
            times.append(1000 * (time.perf_counter() - started))
            p_cut = model.probability(pair[1])
            n += 1
            whole_ok += p_whole > COMPLETE_ABOVE
            cut_ok += p_cut <= COMPLETE_ABOVE
        rows.append(
            {"voice": name, "questions": n, "whole_complete": whole_ok, "cut_incomplete": cut_ok}
        )
    result = {"rows": rows, "ms_per_call_p50": round(statistics.median(times), 1)}
    if args.json:
        print(json.dumps(result))
        return 0
    print("Smart Turn v3.2: whole questions called complete, cut ones called incomplete")
    for r in rows:
        print(
            f"  {r['voice']:<24} whole {r['whole_complete']:>2}/{r['questions']}"
            f"   cut {r['cut_incomplete']:>2}/{r['questions']}"
        )
    print(f"one call: {result['ms_per_call_p50']:.0f} ms (p50, one thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
