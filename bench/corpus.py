"""Spoken questions for the benchmarks: a folder of WAVs with their reference text.

With --corpus DIR, each *.wav has its text in a *.txt beside it. Without it,
espeak-ng speaks the built-in questions into a temporary folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Can you suggest a name for my new cat?",
    "What should I cook for dinner tonight?",
    "Why is the sky blue?",
    "Tell me a fun fact about the ocean.",
    "What is a good way to fall asleep faster?",
    "How do I make a cup of tea?",
    "What is the tallest mountain in the world?",
    "Give me one tip for learning a new language.",
]
VOICE = ["-v", "en-us+f3", "-s", "130"]  # the espeak voice tiny.en understands best


def speak(text: str, path: Path) -> Path:
    subprocess.run(["espeak-ng", *VOICE, "-w", str(path), text], check=True)
    path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
    return path


def spoken_corpus(folder: Path) -> list[Path]:
    if not shutil.which("espeak-ng"):
        sys.exit("bench: espeak-ng is needed to speak the questions (or pass --corpus DIR)")
    return [speak(q, folder / f"q{i:02d}.wav") for i, q in enumerate(QUESTIONS)]


def load_corpus(corpus: Path | None, scratch: Path) -> list[Path]:
    """The corpus's WAVs, or the built-in questions spoken into ``scratch``."""
    if corpus is None:
        return spoken_corpus(scratch)
    wavs = sorted(corpus.glob("*.wav"))
    if not wavs:
        sys.exit(f"bench: no *.wav files in {corpus}")
    missing = [w.name for w in wavs if not w.with_suffix(".txt").is_file()]
    if missing:
        sys.exit(f"bench: no reference .txt beside {', '.join(missing)}")
    return wavs


def reference_text(wav: Path) -> str:
    return wav.with_suffix(".txt").read_text(encoding="utf-8").strip()
