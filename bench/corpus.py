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
VOICE = ("en-us+f3", 130)  # the espeak voice tiny.en understands best
# Accents, voices and speeds (words a minute) people speak at: American, British,
# Scottish, Caribbean, Received Pronunciation and West Midlands English, male and
# female variants, 140-190 wpm. Each question is spoken in two of them.
VOICES = [
    ("en-us", 160),
    ("en-gb+f2", 150),
    ("en-gb-scotland", 170),
    ("en-029+f4", 140),
    ("en-gb-x-rp+m3", 185),
    ("en-us+f3", 175),
    ("en-gb-x-gbcwmd", 155),
    ("en-us+m7", 190),
]


def speak(text: str, path: Path, voice: tuple[str, int] = VOICE) -> Path:
    name, wpm = voice
    subprocess.run(["espeak-ng", "-v", name, "-s", str(wpm), "-w", str(path), text], check=True)
    path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
    return path


# Questions with a pause to think in the middle: the first part, then the rest.
PAUSED = [
    ("What is the capital", "of France?"),
    ("How many legs", "does a spider have?"),
    ("Can you suggest a name", "for my new cat?"),
    ("What should I cook", "for dinner tonight?"),
    ("Tell me a fun fact", "about the ocean."),
    ("What is a good way", "to fall asleep faster?"),
    ("How do I make", "a cup of tea?"),
    ("What is the tallest mountain", "in the world?"),
    ("Give me one tip", "for learning a new language."),
    ("Why is the sky", "blue?"),
]
PAUSES_S = (0.4, 0.6, 0.8, 1.0, 1.2)


def paused_corpus(folder: Path, count: int = len(PAUSED)) -> list[Path]:
    """Questions spoken in two parts with 0.4-1.2 s of silence between them (named
    p03_800ms_en-us@160.wav), in the corpus's voices: an endpoint inside the pause
    cuts the user off."""
    import wave

    import numpy as np

    if not shutil.which("espeak-ng"):
        sys.exit("bench: espeak-ng is needed to speak the questions")
    wavs = []
    for i in range(count):
        first, rest = PAUSED[i % len(PAUSED)]
        pause = PAUSES_S[i % len(PAUSES_S)]
        voice = VOICES[i % len(VOICES)]
        parts = []
        for k, text in enumerate((first, rest)):
            part = speak(text, folder / f"part{i}_{k}.wav", voice)
            with wave.open(str(part), "rb") as w:
                rate = w.getframerate()
                samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
            loud = np.flatnonzero(np.abs(samples) > 300)
            parts.append(samples[loud[0] : loud[-1] + 1])
        silence = np.zeros(int(pause * rate), "<i2")
        tag = f"{voice[0]}@{voice[1]}".replace("+", "-")
        path = folder / f"p{i:02d}_{int(pause * 1000)}ms_{tag}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(np.concatenate([parts[0], silence, parts[1]]).tobytes())
        path.with_suffix(".txt").write_text(f"{first} {rest}\n", encoding="utf-8")
        wavs.append(path)
    return wavs


def pause_of(wav: Path) -> int:
    """The pause in ms of a paused_corpus file, from its name."""
    return int(wav.stem.split("_")[1].removesuffix("ms"))


def voice_of(wav: Path) -> str:
    """The voice a built-in corpus file was spoken in ('en-gb+f2@150'), from its name."""
    return wav.stem.rsplit("_", 1)[1] if "_" in wav.stem else "corpus"


def spoken_corpus(folder: Path, voices: str = "many") -> list[Path]:
    """voices='many': each question in two of VOICES (20 files, 8 voices); 'one': all
    in VOICE, the voice tiny.en hears best (the benchmark's corpus before)."""
    if not shutil.which("espeak-ng"):
        sys.exit("bench: espeak-ng is needed to speak the questions (or pass --corpus DIR)")
    wavs = []
    for i, question in enumerate(QUESTIONS):
        chosen = [VOICE] if voices == "one" else [VOICES[(2 * i + k) % len(VOICES)] for k in (0, 1)]
        for name, wpm in chosen:
            tag = f"{name}@{wpm}".replace("+", "-")
            wavs.append(speak(question, folder / f"q{i:02d}_{tag}.wav", (name, wpm)))
    return wavs


def load_corpus(corpus: Path | None, scratch: Path, voices: str = "many") -> list[Path]:
    """The corpus's WAVs, or the built-in questions spoken into ``scratch``."""
    if corpus is None:
        return spoken_corpus(scratch, voices)
    wavs = sorted(corpus.glob("*.wav"))
    if not wavs:
        sys.exit(f"bench: no *.wav files in {corpus}")
    missing = [w.name for w in wavs if not w.with_suffix(".txt").is_file()]
    if missing:
        sys.exit(f"bench: no reference .txt beside {', '.join(missing)}")
    return wavs


def reference_text(wav: Path) -> str:
    return wav.with_suffix(".txt").read_text(encoding="utf-8").strip()
