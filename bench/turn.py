"""Benchmark one voice turn: Parley's pipeline against the three libraries called directly.

Each spoken question goes through Parley (`Assistant.run_turn`, audio in, speech
out) and through faster-whisper, llama-cpp-python and piper called directly
with the same models, threads and settings, in alternation, so both see the
same machine. Times run from the end of the input audio.

    python bench/turn.py [--corpus DIR] [--rounds N] [--json]

DIR holds *.wav questions; without it, questions are spoken by espeak-ng.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import load_corpus, reference_text  # noqa: E402
from desktop.config import Settings  # noqa: E402
from desktop.engine.audio.samples import load_audio  # noqa: E402
from desktop.engine.llm.backend import SamplingOptions  # noqa: E402
from desktop.engine.loading import load_assistant, thread_split  # noqa: E402
from desktop.engine.speech.stt import DECODE_OPTIONS  # noqa: E402
from desktop.engine.speech.wer import word_error_rate  # noqa: E402
from desktop.library import registry  # noqa: E402

STAGES = ("stt_ms", "llm_first_token_ms", "first_audio_ms")
FIRST_CLAUSE = re.compile(r"^(?:\S+\s+){2,}?\S*[,;:.!?](?=\s)|^.*?[.!?](?=\s)")


class RawPipeline:
    """What a developer would write with the libraries alone: same models, same settings."""

    def __init__(self, settings: Settings) -> None:
        from faster_whisper import WhisperModel
        from llama_cpp import Llama
        from piper import PiperVoice

        threads = thread_split(settings)
        self.settings = settings
        self.whisper = WhisperModel(
            str(registry.resolve("stt", settings).path),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads["stt"],
        )
        self.llama = Llama(
            str(registry.resolve("llm", settings).path),
            n_ctx=settings.context_size,
            n_threads=threads["llm"],
            n_threads_batch=threads["llm"],
            verbose=False,
        )
        self.voice = PiperVoice.load(registry.resolve("tts", settings).path)
        self.sampling = SamplingOptions(
            max_tokens=settings.max_tokens, temperature=settings.temperature
        )
        self.turn(load_audio(spoken_warmup()))  # warm all three, as Parley does at load

    def turn(self, audio) -> tuple[dict[str, float], str]:
        start = time.perf_counter()
        ms = lambda: (time.perf_counter() - start) * 1000  # noqa: E731
        segments, _ = self.whisper.transcribe(audio, language="en", **DECODE_OPTIONS)
        text = " ".join(s.text.strip() for s in segments)
        timings = {"stt_ms": ms()}
        messages = [
            {"role": "system", "content": self.settings.system_prompt},
            {"role": "user", "content": text},
        ]
        reply, spoken = "", False
        s = self.sampling
        for chunk in self.llama.create_chat_completion(
            messages,
            stream=True,
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            repeat_penalty=s.repeat_penalty,
        ):
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if piece and "llm_first_token_ms" not in timings:
                timings["llm_first_token_ms"] = ms()
            reply += piece
            if not spoken and (clause := FIRST_CLAUSE.match(reply + " ")):
                next(iter(self.voice.synthesize(clause.group(0))))
                timings["first_audio_ms"] = ms()
                spoken = True
        if not spoken and reply.strip():
            next(iter(self.voice.synthesize(reply)))
            timings["first_audio_ms"] = ms()
        return timings, text


_WARMUP: list[Path] = []


def spoken_warmup() -> Path:
    return _WARMUP[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    summary = {}
    for stage in STAGES:
        values = [run[stage] for run in runs if run.get(stage) is not None]
        summary[stage] = {
            "p50": round(statistics.median(values), 1),
            "p95": round(percentile(values, 0.95), 1),
            "n": len(values),
        }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="folder of *.wav questions")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the corpus")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    settings = Settings(temperature=0.0)  # greedy: both pipelines write the same reply
    with tempfile.TemporaryDirectory() as scratch:
        wavs = load_corpus(args.corpus, Path(scratch), voices="one")  # as the README quotes
        _WARMUP.append(wavs[0])
        assistant = load_assistant(settings)
        raw = RawPipeline(settings)
        runs: dict[str, list[dict[str, float]]] = {"parley": [], "raw": []}
        heard: dict[str, list[tuple[str, str]]] = {"parley": [], "raw": []}

        def parley_turn(audio):
            result = assistant.run_turn(audio=audio, speak=True)
            return result.timings, result.transcript

        for round_index in range(args.rounds):
            for wav in wavs:
                audio = load_audio(wav)
                assistant.reset()
                order = [("parley", parley_turn), ("raw", raw.turn)]
                if round_index % 2:
                    order.reverse()  # alternate who goes first
                for name, run in order:
                    timings, transcript = run(audio)
                    runs[name].append(timings)
                    heard[name].append((reference_text(wav), transcript))

    report = {
        "parley": {**summarize(runs["parley"]), "wer": round(word_error_rate(heard["parley"]), 4)},
        "raw": {**summarize(runs["raw"]), "wer": round(word_error_rate(heard["raw"]), 4)},
        "turns": len(runs["parley"]),
        "threads": settings.cpu_threads,
    }
    report["ratio"] = {
        stage: round(report["parley"][stage]["p50"] / report["raw"][stage]["p50"], 3)
        for stage in STAGES
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['turns']} turns each, {settings.cpu_threads} threads\n")
    print(f"{'stage':<20}{'parley p50':>12}{'p95':>9}{'raw p50':>11}{'p95':>9}{'ratio':>8}")
    for stage in STAGES:
        p, r = report["parley"][stage], report["raw"][stage]
        print(
            f"{stage:<20}{p['p50']:>12.0f}{p['p95']:>9.0f}{r['p50']:>11.0f}{r['p95']:>9.0f}"
            f"{report['ratio'][stage]:>8.2f}"
        )
    print(f"{'transcript WER':<20}{report['parley']['wer']:>12.3f}{report['raw']['wer']:>20.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
