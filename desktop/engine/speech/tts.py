"""Text to speech over piper, with the ONNX session's threads under our control.

Any text may arrive here (a reply, an API request): it is cleaned to what the
voice can read, spoken in bounded pieces, and refused past MAX_TEXT_CHARS, so
no input makes piper or espeak raise, hang or run out of memory.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from desktop.engine.speech.clauses import speakable
from desktop.errors import Cancelled, ModelError, ParleyError

# Longest text handed to piper at once: a few sentences. Its memory grows with the
# length of one sentence (a 400-character run-on: 550 MB at peak; 200: 340 MB),
# and only run-on text gets near this.
MAX_PIECE_CHARS = 200
# Longest text spoken in one call: about 17 minutes of speech, 1.5 minutes of work
# on two cores. A reply reaches here a clause at a time; only an API caller or a
# script sends more, and gets a clear refusal rather than an hour of synthesis.
MAX_TEXT_CHARS = 20_000


class Synthesizer:
    """A loaded piper voice that turns a clause of text into int16 audio."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        config_path: str | os.PathLike | None = None,
        threads: int = 1,
        rate: float = 1.0,
        gain_db: float = 0.0,
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
        self._session = _ShrinkableSession(session, onnxruntime.RunOptions())
        self.voice = PiperVoice(config=config, session=self._session)
        self.sample_rate = config.sample_rate
        self.language = config.espeak_voice
        self._scripts = _readable_scripts(config.espeak_voice, str(config.phoneme_type.value))
        self._base_length_scale = float(config.length_scale or 1.0)
        self._lock = threading.Lock()  # a turn's clauses and a ringing timer share the voice
        self.set_pace(rate, gain_db)
        self.synthesize("Ready.")  # warm: the first inference is slow

    def synthesize(self, text: str, cancel: threading.Event | None = None) -> np.ndarray:
        """Int16 mono audio for ``text``; empty when nothing in it can be spoken.

        Text is cleaned first (``readable``), then spoken a piece of at most
        MAX_PIECE_CHARS at a time: piper's attention grows with the square of a
        sentence's length, and one 20,000-character run without a full stop
        asks onnxruntime for 27 GB. Time stays linear in the length; ``cancel``
        stops between pieces.
        """
        if len(text) > MAX_TEXT_CHARS:
            raise ParleyError(
                f"the text to speak is {len(text):,} characters; the voice reads at most "
                f"{MAX_TEXT_CHARS:,} at a time",
                "split it into parts",
            )
        text = self.readable(text)
        chunks: list[np.ndarray] = []
        for piece in pieces(text, MAX_PIECE_CHARS):
            if cancel is not None and cancel.is_set():
                raise Cancelled("stopped")
            with self._lock:
                spoken = self.voice.synthesize(piece, syn_config=self._syn_config)
                chunks.extend(chunk.audio_int16_array for chunk in spoken)
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return louder(np.concatenate(chunks), self.gain_db)

    def set_pace(self, rate: float, gain_db: float) -> None:
        """Speak ``rate`` times as fast as the voice's own pace, ``gain_db`` louder:
        "speak slower" and "louder" (for hearing-aid users), kept in the settings."""
        from piper.config import SynthesisConfig

        self.rate = rate
        self.gain_db = gain_db
        self._syn_config = SynthesisConfig(length_scale=self._base_length_scale / rate)

    def release_memory(self) -> None:
        """Give back the memory the last sentences needed, once a reply is spoken.

        onnxruntime's arena keeps the buffers of the longest sentence so far, and
        freed heap memory stays with the process: piper alone grew from 160 to
        410-530 MB over 80 sentences of 3-35 words. Shrinking the arena on one
        tiny sentence and trimming the heap keeps it at about 150 MB, for about
        30 ms of work after the reply, off the path to the first audio.
        """
        with self._lock:
            self._session.shrink_next = True
            for _chunk in self.voice.synthesize("Ah."):
                pass
        trim_heap()

    def readable(self, text: str) -> str:
        """The part of ``text`` this voice can read aloud: no markdown, emoji or control
        characters, and no words in a script its language does not use (espeak would
        spell them out as "Chinese letter, Chinese letter, …")."""
        text = speakable(_strip_controls(text))
        if self._scripts is None or not text:
            return text
        kept = " ".join(
            "".join(run if self._keeps(script, run) else " " for script, run in _runs(text)).split()
        )
        kept = _SPACE_BEFORE_MARK.sub(r"\1", kept)  # "is 你好." left "is ."
        return kept if any(ch.isalnum() for ch in kept) else ""

    def cannot_read(self, text: str) -> str:
        """Why some of ``text`` will not be spoken, in words ("" when all of it will)."""
        if self._scripts is None:
            return ""
        skipped = sorted(
            {
                _SCRIPT_NAMES.get(script, script.title())
                for script, run in _runs(_strip_controls(text))
                if not self._keeps(script, run)
            }
        )
        if not skipped:
            return ""
        return f"the voice ({self.language}) cannot read {' or '.join(skipped)}; it is not spoken"

    def _keeps(self, script: str, run: str) -> bool:
        if self._scripts is None or script not in _KNOWN_SCRIPTS or script in self._scripts:
            return True
        return script == "GREEK" and len(run) == 1  # a lone α or π is read by its name


class _ShrinkableSession:
    """piper's onnxruntime session, whose arena shrinks after the run that asks for it."""

    def __init__(self, session: object, shrink: object) -> None:
        self._session = session
        self._shrink = shrink
        shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.shrink_next = False

    def run(self, output_names: object, input_feed: object, run_options: object = None) -> object:
        if self.shrink_next:
            self.shrink_next, run_options = False, self._shrink
        return self._session.run(output_names, input_feed, run_options)

    def __getattr__(self, name: str) -> object:
        return getattr(self._session, name)


def louder(audio: np.ndarray, gain_db: float, knee: float = 0.6) -> np.ndarray:
    """``audio`` (int16) ``gain_db`` louder. Piper already peaks at full scale, so above
    ``knee`` the peaks are bent smoothly under it (tanh) rather than clipped: the
    speech is about ``gain_db`` louder (+3 dB measured +2.9 dB RMS) without distortion."""
    if gain_db == 0.0 or audio.size == 0:
        return audio
    y = audio.astype(np.float32) * (10.0 ** (gain_db / 20.0) / 32768.0)
    over = np.abs(y) > knee
    if over.any():
        size = np.abs(y[over])
        y[over] = np.sign(y[over]) * (knee + (1.0 - knee) * np.tanh((size - knee) / (1.0 - knee)))
    return np.clip(y * 32767.0, -32768, 32767).astype(np.int16)


def trim_heap() -> None:
    """Hand freed heap memory back to the system (glibc only; elsewhere nothing)."""
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
        pass


def _readable_scripts(espeak_voice: str, phoneme_type: str) -> frozenset[str] | None:
    """The scripts a voice reads, from its espeak language; None when unknown (no filter)."""
    if phoneme_type == "text":
        return None
    language = espeak_voice.lower().split("-")[0]
    if language in _LATIN_LANGUAGES:
        return frozenset({"LATIN"})
    native = _NATIVE_SCRIPTS.get(language)
    return None if native is None else frozenset({"LATIN", *native})


def _runs(text: str) -> Iterator[tuple[str, str]]:
    """``text`` as runs of (script, characters): letters of one script with their
    combining marks, or ("", anything else)."""
    current, run = "", ""
    for ch in text:
        category = unicodedata.category(ch)[0]
        if category == "L":
            script = unicodedata.name(ch, "").split(" ", 1)[0]  # "LATIN", "CJK", "ARABIC"...
        else:
            script = current if category == "M" else ""  # a mark goes with its letter
        if script != current and run:
            yield current, run
            run = ""
        current = script
        run += ch
    if run:
        yield current, run


def _strip_controls(text: str) -> str:
    """Control characters (a NUL makes espeak raise) become spaces; invisible format
    characters go, except the joiners some scripts spell with."""
    text = text.replace("[[", "[").replace("]]", "]")  # piper reads [[ ]] as raw phonemes
    return "".join(
        " "
        if unicodedata.category(ch) == "Cc"
        else ""
        if unicodedata.category(ch) == "Cf" and ch not in "\u200c\u200d"
        else ch
        for ch in text
    )


def pieces(text: str, limit: int) -> Iterator[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at the last sentence end,
    else the last comma-like break, else the last space, else anywhere."""
    text = text.strip()
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for marks in (".!?…", ",;:—–", " "):
            cut = max(window.rfind(mark, 0, limit) for mark in marks)
            if cut > 0:
                break
        cut = cut + 1 if cut > 0 else limit
        yield text[:cut].strip()
        text = text[cut:].strip()
    if text:
        yield text


_SPACE_BEFORE_MARK = re.compile(r"\s+([.,!?;:…，。！？、])")
_LATIN_LANGUAGES = set(
    "af an ast az bs ca cs cy da de en eo es et eu fi fr ga gd gl hr ht hu id is it la lb lt "
    "lv mi ms mt nb nl no oc pl pt ro sk sl sq sv sw tn tr vi cy yo ha".split()
)
_NATIVE_SCRIPTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys("ru uk be bg mk sr kk ky tt ba cv mn".split(), ("CYRILLIC",)),
    **dict.fromkeys(("el", "grc"), ("GREEK",)),
    **dict.fromkeys("ar fa ur ps sd ug".split(), ("ARABIC",)),
    **dict.fromkeys(("he", "yi"), ("HEBREW",)),
    **dict.fromkeys("hi mr ne sa kok mai".split(), ("DEVANAGARI",)),
    **dict.fromkeys(("bn", "as"), ("BENGALI",)),
    **dict.fromkeys("zh cmn yue hak".split(), ("CJK", "BOPOMOFO")),
    "ja": ("HIRAGANA", "KATAKANA", "CJK"),
    "ko": ("HANGUL",),
    "pa": ("GURMUKHI",),
    "gu": ("GUJARATI",),
    "or": ("ORIYA",),
    "ta": ("TAMIL",),
    "te": ("TELUGU",),
    "kn": ("KANNADA",),
    "ml": ("MALAYALAM",),
    "si": ("SINHALA",),
    "ka": ("GEORGIAN",),
    "hy": ("ARMENIAN",),
    "am": ("ETHIOPIC",),
    "th": ("THAI",),
    "lo": ("LAO",),
    "my": ("MYANMAR",),
    "km": ("KHMER",),
}
_KNOWN_SCRIPTS = {script for scripts in _NATIVE_SCRIPTS.values() for script in scripts} | {
    "LATIN",
    "SYRIAC",
    "THAANA",
    "TIBETAN",
    "MONGOLIAN",
    "YI",
}
_SCRIPT_NAMES = {
    "CJK": "Chinese characters",
    "HANGUL": "Korean",
    "HIRAGANA": "Japanese",
    "KATAKANA": "Japanese",
    "BOPOMOFO": "Chinese",
}
