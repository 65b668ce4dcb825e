"""The GGUF checker rejects every malformed file with its own one-line message.

No malformed file is ever handed to llama.cpp here: stopping that is the
checker's whole job.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from desktop.engine.llm import gguf_check
from desktop.engine.llm.chat_template import check_chat_template
from desktop.engine.llm.gguf_check import GgufInfo, check_gguf
from desktop.errors import ModelError
from tests import gguf_samples

# sample -> a fragment only that sample's message should contain
EXPECTED = {
    "empty": "is empty (0 bytes)",
    "magic_only": "ends before the GGUF version number",
    "bad_magic": "starts with the bytes 00 01 02 03 instead of 'GGUF'",
    "html_page": "not a GGUF file: an HTML page",
    "zip_archive": "not a GGUF file: a ZIP archive",
    "safetensors": "not a GGUF file: a safetensors file",
    "unknown_version": "GGUF version 99; only versions 2 and 3",
    "version_1": "GGUF version 1, an obsolete format",
    "n_tensors_huge": "claims 9,223,372,036,854,775,807 tensors",
    "n_kv_huge": "claims 9,223,372,036,854,775,807 metadata entries",
    "counts_exceed_file": "which cannot fit in 65,536 bytes",
    "truncated_in_header": "is truncated: it ends inside the header",
    "truncated_in_metadata": "is truncated: it ends inside the metadata",
    "truncated_in_tensor_infos": "is truncated: it ends inside the tensor infos",
    "truncated_in_data": "is truncated: expected at least 98,362,432 bytes, the file has",
    "vocab_length_overflow": "'tokenizer.ggml.tokens' has an impossible length of "
    "4,611,686,018,427,387,904 items",
    "string_length_overflow": "'tokenizer.chat_template' has an impossible length of "
    "4,611,686,018,427,387,904 bytes",
    "unknown_value_type": "'parley.test' has unknown value type 13",
    "bad_alignment": "general.alignment is '48', not a power of two",
    "duplicate_tensor": "has an empty or duplicate name",
    "tensor_type_255": "has unknown tensor type 255",
    "too_many_dims": "has 5 dimensions",
    "zero_dimension": "has a zero or negative dimension",
    "dimension_overflow": "whose product overflows 64 bits",
    "tensor_bigger_than_file": "more than the whole file",
    "tensor_offset_unaligned": "is not a multiple of the alignment 32",
    "tensor_offset_past_end": "lies outside the file",
    "tensor_offset_overlap": "is not where llama.cpp expects it",
    "no_architecture": "has no general.architecture entry",
    "unknown_architecture": "architecture 'parley-test-arch', which this llama.cpp cannot run",
}
TEMPLATE_SAMPLES = {
    "template_syntax_error": "does not parse",
    "template_sandbox_escape": "tries to escape the sandbox",
}


@pytest.fixture(scope="session")
def real_model() -> Path:
    return gguf_samples.starter_model()


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return gguf_samples.make_malformed(tmp_path_factory.mktemp("gguf-samples"))


def rejection(path: Path) -> ModelError:
    with pytest.raises(ModelError) as caught:
        check_gguf(path)
    return caught.value


def test_real_starter_model_passes_quickly(real_model):
    check_gguf(real_model)  # warm the page cache and the libllama lookup
    started = time.perf_counter()
    info = check_gguf(real_model)
    elapsed = time.perf_counter() - started
    assert isinstance(info, GgufInfo)
    assert info.architecture == "llama"
    assert info.version == 3
    assert info.tensor_count == 272
    assert info.context_length == 8192
    assert info.name and "Smollm2" in info.name
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert info.file_size == real_model.stat().st_size
    assert info.metadata["tokenizer.ggml.tokens"] == {"type": "string", "length": 49152}
    assert info.metadata["tokenizer.ggml.token_type"] == {"type": "int32", "length": 49152}
    assert info.metadata["general.languages"] == ["en"]
    assert elapsed < 0.1, f"check_gguf took {elapsed * 1000:.0f} ms"


def test_every_sample_is_covered(samples):
    assert set(samples) == set(EXPECTED) | set(TEMPLATE_SAMPLES)


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_malformed_sample_is_rejected_with_its_own_message(samples, sample):
    error = rejection(samples[sample])
    text = error.one_line()
    assert "\n" not in error.message and error.hint
    assert samples[sample].name in error.message
    assert EXPECTED[sample] in error.message, error.message
    others = [name for name, fragment in EXPECTED.items() if fragment in text and name != sample]
    assert not others, f"{sample}'s message also matches {others}: {text}"


def test_messages_are_pairwise_distinct(samples):
    messages = {rejection(samples[n]).message.replace(samples[n].name, "") for n in EXPECTED}
    assert len(messages) == len(EXPECTED)


@pytest.mark.parametrize("sample", sorted(TEMPLATE_SAMPLES))
def test_bad_templates_pass_the_file_check_but_not_the_template_check(samples, sample):
    info = check_gguf(samples[sample])
    assert info.chat_template
    with pytest.raises(ModelError) as caught:
        check_chat_template(info.chat_template, samples[sample].name)
    assert TEMPLATE_SAMPLES[sample] in caught.value.message
    assert "\n" not in caught.value.message


def test_missing_file_directory_pipe_and_unreadable_file(tmp_path, real_model):
    assert "does not exist" in rejection(tmp_path / "nope.gguf").message
    assert "is a directory" in rejection(tmp_path).message
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.gguf")
        assert "is not a regular file" in rejection(tmp_path / "pipe.gguf").message
    if os.name == "posix" and os.geteuid() != 0:
        locked = tmp_path / "locked.gguf"
        locked.write_bytes(real_model.read_bytes()[:4096])
        locked.chmod(0)
        assert "permission denied" in rejection(locked).message


def test_file_without_template(tmp_path_factory):
    path = gguf_samples.make_without_template(tmp_path_factory.mktemp("no-template"))
    info = check_gguf(path)
    assert info.chat_template is None
    assert "tokenizer.chat_template" not in info.metadata
    assert info.architecture == "llama"


def test_truncated_copies_raise_model_error_and_nothing_else(tmp_path, real_model):
    g = gguf_samples.parse(real_model)
    header = [1, 3, 4, 5, 7, 8, 11, 12, 16, 23, 24, 25, 31, 32, 33]
    header += [g.kv_offsets[key] + delta for key in list(g.kv_offsets)[::3] for delta in (0, 9)]
    header += [g.infos_start + (g.data_start - g.infos_start) * k // 8 for k in range(9)]
    data = [g.data_start + 1, g.data_start + 12345, g.file_size // 2, g.file_size - 1]
    points = sorted(set(header + data))
    assert len(points) >= 40
    for n in points:
        path = gguf_samples.truncated_copy(tmp_path / "cut.gguf", real_model, n)
        with pytest.raises(ModelError) as caught:
            check_gguf(path)
        assert "truncated" in caught.value.message, (n, caught.value.message)


def test_check_does_not_need_llama_cpp(monkeypatch, real_model):
    monkeypatch.setattr(gguf_check, "_llama_library", lambda: None)
    assert check_gguf(real_model).architecture == "llama"


def test_ggml_type_table_matches_known_sizes():
    assert gguf_check.GGML_TYPES[3] == ("Q4_1", 32, 20)
    assert gguf_check.GGML_TYPES[12] == ("Q4_K", 256, 144)
    assert gguf_check.GGML_TYPES[14] == ("Q6_K", 256, 210)
    assert 4 not in gguf_check.GGML_TYPES and 5 not in gguf_check.GGML_TYPES


def test_architectures_come_from_the_installed_libllama(monkeypatch):
    if gguf_check._llama_library() is not None:
        # "qwen2" is stored as the tail of "rwkv6qwen2" in the library's strings
        assert all(map(gguf_check._architecture_supported, ["llama", "qwen2", "gemma3", "phi3"]))
    monkeypatch.setattr(gguf_check, "_llama_library", lambda: b"\0llama\0gemma3\0")
    assert gguf_check._architecture_supported("gemma3")
    assert not gguf_check._architecture_supported("qwen2")
    assert not gguf_check._architecture_supported("not-an-architecture")


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (PermissionError(13, "Permission denied"), "cannot be read: permission denied"),
        (OSError(5, "Input/output error"), "cannot be read: Input/output error"),
        (MemoryError(), "out of memory"),
    ],
)
def test_read_errors_become_model_errors(monkeypatch, real_model, error, fragment):
    def failing_open(*args, **kwargs):
        raise error

    monkeypatch.setattr(gguf_check, "open", failing_open, raising=False)
    assert fragment in rejection(real_model).message
