"""The shipped model catalog: it loads, it is complete, and it points at real files."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

from desktop.errors import ConfigError, ModelError
from desktop.library.catalog import ROLES, find, load_catalog, search


@pytest.fixture(scope="module")
def entries():
    return load_catalog()


def test_the_shipped_catalog_loads_with_every_role_and_unique_ids(entries):
    assert {e.role for e in entries} == set(ROLES)
    for role in ROLES:
        assert sum(e.role == role for e in entries) >= 3, role
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))


def test_every_hub_entry_says_what_to_fetch_and_under_which_licence(entries):
    hub = [e for e in entries if e.repo]
    assert len(hub) >= 20
    for entry in hub:
        owner, _, name = entry.repo.partition("/")
        assert owner and name and "/" not in name, entry.id
        assert entry.files and all(f and not f.startswith("/") for f in entry.files), entry.id
        assert entry.size_mb > 0, entry.id
        assert entry.licence.strip(), entry.id
        assert entry.name.strip(), entry.id
        assert not entry.starter, entry.id
        # Files are stored flattened by basename, so two must never share one.
        names = [Path(f).name for f in entry.files]
        assert len(names) == len(set(names)), entry.id
    whisper = [e for e in hub if e.role == "stt"]
    assert all("model.bin" in e.files and "config.json" in e.files for e in whisper)
    voices = [e for e in hub if e.role == "tts"]
    for voice in voices:
        onnx = [f for f in voice.files if f.endswith(".onnx")]
        assert len(onnx) == 1 and f"{onnx[0]}.json" in voice.files, voice.id


def test_every_llm_has_its_architecture_for_the_memory_estimate(entries):
    for entry in entries:
        assert entry.ram_mb > 0, entry.id
        if entry.role == "llm":
            assert entry.parameters_b > 0, entry.id
            assert entry.layers > 0, entry.id
            # n_kv_heads x head_dim, and head dims are 64, 128 or 256.
            assert entry.kv_dim > 0 and entry.kv_dim % 64 == 0, entry.id
            assert any(f.endswith(".gguf") for f in entry.files), entry.id


def _installed_file(relative: str) -> Path | None:
    package, _, rest = relative.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        if (Path(folder) / rest).exists():
            return Path(folder) / rest
    return None


def test_the_starter_entries_point_at_the_installed_starter_files(entries, starter):
    starters = [e for e in entries if e.starter]
    assert sorted(e.role for e in starters) == sorted(ROLES)
    for entry in starters:
        package, _, version = entry.package.partition("==")
        assert importlib.metadata.version(package) == version, entry.id
        found = [_installed_file(f) for f in entry.files]
        assert all(path is not None for path in found), (entry.id, entry.files)
        assert starter[entry.role] in found, (entry.id, found)


def test_search_finds_models_by_name_ability_and_language(entries):
    qwen = search("qwen", entries)
    assert qwen and all("qwen" in e.id for e in qwen)
    thinking = search("reasoning", entries)
    assert thinking and all(e.reasoning for e in thinking)
    assert {"deepseek-r1-distill-qwen-1.5b-q4_k_m", "qwq-32b-q4_k_m"} <= {e.id for e in thinking}
    german_voices = search("german voice", entries)
    assert [e.id for e in german_voices] == ["piper-de_DE-thorsten-medium"]
    speaks_german = {e.id for e in search("de", entries)}
    assert {"piper-de_DE-thorsten-medium", "faster-whisper-small"} <= speaks_german
    assert {e.id for e in search("tools llm", entries)} >= {"qwen2.5-0.5b-instruct-q4_k_m"}


def test_find_returns_an_entry_and_suggests_close_ids_on_a_typo(entries):
    assert find("faster-whisper-base.en", entries).role == "stt"
    with pytest.raises(ModelError) as caught:
        find("qwen2.5-0.5b-instrutc-q4_k_m", entries)
    assert "qwen2.5-0.5b-instruct-q4_k_m" in caught.value.hint


GOOD = """
[[model]]
id = "tiny"
role = "llm"
source = "hf:someone/tiny-GGUF"
name = "Tiny"
files = ["tiny.gguf"]
size_mb = 10
licence = "MIT"
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('role = "llm"', 'role = "vision"'), "role must be one of"),
        (('licence = "MIT"', 'licence = "MIT"\nquantisation = "Q4"'), "unknown keys"),
        (
            ('licence = "MIT"', 'licence = "MIT"\nsha256 = {"other.gguf" = "ab12"}'),
            "sha256 given for files it does not list",
        ),
    ],
)
def test_a_broken_catalog_raises_a_config_error_naming_the_entry(tmp_path, change, message):
    good = tmp_path / "good.toml"
    good.write_text(GOOD, encoding="utf-8")
    assert [e.id for e in load_catalog(good)] == ["tiny"]
    broken = tmp_path / "catalog.toml"
    broken.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalog(broken)
    assert "'tiny'" in caught.value.message and message in caught.value.message
