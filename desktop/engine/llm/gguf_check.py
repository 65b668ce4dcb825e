"""Structural checks for GGUF model files, made before llama.cpp ever opens them.

llama.cpp can abort() the whole process on a malformed file, and its security
policy leaves hostile GGUF files to the caller. So Parley reads the header
itself first: the magic, version, metadata and tensor infos, with bounded reads
and limits on every count, and never the tensor data. Each problem becomes a
ModelError naming the problem and the file. Pure Python: no Qt, no llama.cpp.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from desktop.engine.llm.gguf_tables import (
    ARRAY_TYPE,
    GGML_TYPES,
    KNOWN_ARCHITECTURES,
    SCALAR_TYPES,
    STRING_TYPE,
)
from desktop.errors import ModelError

MAX_TENSORS = 1_000_000
MAX_KV = 100_000
MAX_KEY_BYTES = 65_535  # the GGUF spec's limit for a key
MAX_STRING_BYTES = 1 << 30  # llama.cpp's limit for a metadata string
MAX_ARRAY_ITEMS = 1 << 30  # llama.cpp's limit for a metadata array
MAX_TENSOR_NAME = 63  # GGML_MAX_NAME - 1
MAX_DIMS = 4  # GGML_MAX_DIMS
KEEP_STRING_BYTES = 1 << 20  # longer strings are summarised, not kept
KEEP_ARRAY_ITEMS = 64  # longer arrays are summarised, not kept
DEFAULT_ALIGNMENT = 32
_CHUNK = 64 * 1024
_INT64_MAX = (1 << 63) - 1

_REDOWNLOAD = "the file is damaged or incomplete; download the model again"
_NOT_A_MODEL = "Parley needs a GGUF model file (.gguf)"


@dataclass(frozen=True)
class GgufInfo:
    """What the header of a checked GGUF file says, for the loader and the UI."""

    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, object]
    architecture: str | None
    name: str | None
    chat_template: str | None
    context_length: int | None
    file_size: int


def shorten(text: str, limit: int = 60) -> str:
    """Quote untrusted text for a one-line message: escaped, and cut short."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def one_line(text: str, limit: int = 200) -> str:
    """An error text from a library, on one line and cut short."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Reader:
    """Reads a file front to back through a small buffer, checking every length first.

    Nothing is allocated from a count in the file before that count has been
    compared with the bytes the file has left, and big skips seek, not read.
    """

    def __init__(self, f: BinaryIO, size: int, name: str) -> None:
        self.f, self.size, self.name = f, size, name
        self.buf, self.start, self.pos = b"", 0, 0  # buf holds file bytes from `start`
        self.where = "header"  # what is being read, for the truncation message

    def tell(self) -> int:
        return self.start + self.pos

    def truncated(self) -> ModelError:
        return ModelError(f"{self.name} is truncated: it ends inside the {self.where}", _REDOWNLOAD)

    def corrupt(self, problem: str) -> ModelError:
        return ModelError(f"{self.name} is corrupt: {problem}", _REDOWNLOAD)

    def _fill(self, n: int) -> None:
        """Make n bytes available at pos, or raise the truncation error."""
        if self.tell() + n > self.size:
            raise self.truncated()
        more = self.f.read(max(n - (len(self.buf) - self.pos), _CHUNK))
        self.buf, self.start, self.pos = self.buf[self.pos :] + more, self.tell(), 0
        if len(self.buf) < n:
            raise self.truncated()  # the file shrank while we read it

    def read(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            self._fill(n)
        self.pos += n
        return self.buf[self.pos - n : self.pos]

    def unpack(self, fmt: struct.Struct) -> tuple:
        if self.pos + fmt.size > len(self.buf):
            self._fill(fmt.size)
        self.pos += fmt.size
        return fmt.unpack_from(self.buf, self.pos - fmt.size)

    def skip(self, n: int) -> None:
        if self.pos + n <= len(self.buf):
            self.pos += n
            return
        target = self.tell() + n
        if target > self.size:
            raise self.truncated()
        self.f.seek(target)
        self.buf, self.start, self.pos = b"", target, 0

    def length(self, what: str, limit: int, unit: str = "bytes", min_size: int = 1) -> int:
        """A length field, checked against a sane limit and against the bytes left."""
        (n,) = self.unpack(_U64)
        if n > limit:
            raise self.corrupt(f"{what} has an impossible length of {n:,} {unit}")
        if n * min_size > self.size - self.tell():
            raise self.truncated()
        return n

    def text(self, what: str, limit: int, keep: int = KEEP_STRING_BYTES) -> str | dict:
        """A UTF-8 string; one longer than `keep` is skipped and summarised."""
        n = self.length(what, limit)
        if n > keep:
            self.skip(n)
            return {"type": "string", "length": n}
        try:
            return self.read(n).decode("utf-8")
        except UnicodeDecodeError:
            raise self.corrupt(f"{what} is not valid UTF-8") from None

    def skip_strings(self, count: int, what: str) -> None:
        """Skip `count` length-prefixed strings: the hot loop for vocabularies."""
        buf, pos, u64 = self.buf, self.pos, _U64.unpack_from
        for _ in range(count):
            if pos + 8 > len(buf):
                self.pos = pos
                self._fill(8)
                buf, pos = self.buf, self.pos
            (n,) = u64(buf, pos)
            pos += 8
            if pos + n <= len(buf):
                pos += n
                continue
            self.pos = pos
            if n > MAX_STRING_BYTES:
                raise self.corrupt(f"a string in {what} has an impossible length of {n:,} bytes")
            self.skip(n)
            buf, pos = self.buf, self.pos
        self.pos = pos


_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_HEADER_COUNTS = struct.Struct("<QQ")
_TYPE_OFFSET = struct.Struct("<IQ")
_SCALAR_STRUCTS = {t: struct.Struct("<" + fmt) for t, (_, fmt) in SCALAR_TYPES.items()}


def _read_value(r: _Reader, key: str, vtype: int) -> object:
    what = f"metadata {shorten(key)}"
    if vtype in SCALAR_TYPES:
        return r.unpack(_SCALAR_STRUCTS[vtype])[0]
    if vtype == STRING_TYPE:
        return r.text(f"the string {what}", MAX_STRING_BYTES)
    if vtype != ARRAY_TYPE:
        raise r.corrupt(f"{what} has unknown value type {vtype}")
    (etype,) = r.unpack(_U32)
    if etype == ARRAY_TYPE:
        raise r.corrupt(f"{what} is an array of arrays, which llama.cpp cannot read")
    if etype != STRING_TYPE and etype not in SCALAR_TYPES:
        raise r.corrupt(f"{what} is an array of unknown value type {etype}")
    item_size = 8 if etype == STRING_TYPE else struct.calcsize(SCALAR_TYPES[etype][1])
    n = r.length(f"the array {what}", MAX_ARRAY_ITEMS, "items", item_size)
    if n <= KEEP_ARRAY_ITEMS:
        if etype == STRING_TYPE:
            return [r.text(f"an item of {what}", MAX_STRING_BYTES) for _ in range(n)]
        return list(r.unpack(struct.Struct(f"<{n}{SCALAR_TYPES[etype][1]}")))
    if etype == STRING_TYPE:
        r.skip_strings(n, what)
    else:
        r.skip(n * item_size)
    return {"type": "string" if etype == STRING_TYPE else SCALAR_TYPES[etype][0], "length": n}


def _describe_foreign(head: bytes, path: Path) -> str:
    """Name the kind of file this is instead of GGUF, when it is recognisable."""
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")):
        return "an HTML page (probably a download error page), not a model"
    if text.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer file, not the model itself"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (such as a PyTorch checkpoint), not a GGUF model"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (such as an old PyTorch checkpoint), not a GGUF model"
    if len(head) >= 10 and head[8:10] == b'{"':
        return "a safetensors file, not a GGUF model"
    if head[:4] in (b"lmgg", b"fmgg", b"tjgg"):
        return "an old GGML/GGJT model, which llama.cpp no longer reads"
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and head[2:3] == b"\x12"):
        return "an ONNX model, not a GGUF model"
    if text.startswith((b"{", b"[")):
        return "a JSON file, not a model"
    return f"it starts with the bytes {head[:4].hex(' ')} instead of 'GGUF'"


@functools.lru_cache(maxsize=1)
def _llama_library() -> bytes | None:
    """The installed libllama's bytes, found without importing llama_cpp (None if absent)."""
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for sub in ("lib", ""):
            for lib in ("libllama.so", "libllama.dylib", "llama.dll"):
                try:
                    data = Path(folder, sub, lib).read_bytes()
                except OSError:
                    continue
                return data if b"llama\0" in data else None  # not what we expect: use the list
    return None


def _architecture_supported(arch: str) -> bool:
    """Known to llama.cpp, and present in the installed libllama's strings when it is found.

    Names are matched with their C terminator only, as the linker may store one
    name as the tail of another ("qwen2" inside "rwkv6qwen2").
    """
    if arch not in KNOWN_ARCHITECTURES:
        return False
    lib = _llama_library()
    return lib is None or arch.encode() + b"\0" in lib


def _check_data_layout(
    r: _Reader, tensors: list[tuple[str, int, int]], data_start: int, alignment: int
) -> None:
    """The tensor data must be packed in order as llama.cpp expects, and inside the file.

    A header that is consistent but longer than the file means a truncated file;
    an inconsistent one means a corrupt header, blamed on the tensor at fault.
    """
    expected, need = 0, data_start
    for i, (shown, offset, nbytes) in enumerate(tensors):
        if offset != expected:
            prev_shown, _, prev_nbytes = tensors[i - 1] if i else ("", 0, 0)
            if prev_nbytes > r.size:
                raise r.corrupt(
                    f"tensor {prev_shown} needs {prev_nbytes:,} bytes, more than the whole file"
                )
            if data_start + offset + nbytes > r.size:
                raise r.corrupt(
                    f"tensor {shown} data (offset {offset:,}, {nbytes:,} bytes) "
                    "lies outside the file"
                )
            raise r.corrupt(
                f"tensor {shown} data offset {offset:,} is not where llama.cpp "
                f"expects it ({expected:,})"
            )
        need = data_start + offset + nbytes
        expected += -(-nbytes // alignment) * alignment
    if tensors and tensors[-1][2] > r.size:
        raise r.corrupt(
            f"tensor {tensors[-1][0]} needs {tensors[-1][2]:,} bytes, more than the whole file"
        )
    if tensors and need > r.size:
        raise ModelError(
            f"{r.name} is truncated: expected at least {need:,} bytes, the file has {r.size:,}",
            _REDOWNLOAD,
        )


def _check_architecture(name: str, arch: object) -> str:
    """general.architecture must name a model this llama.cpp can run."""
    if arch is None:
        raise ModelError(
            f"{name} has no general.architecture entry, so llama.cpp cannot tell what model it is",
            _REDOWNLOAD,
        )
    if not isinstance(arch, str) or not arch:
        raise ModelError(
            f"{name} is corrupt: general.architecture is not a non-empty string", _REDOWNLOAD
        )
    if arch == "clip":
        raise ModelError(
            f"{name} is a vision projector (mmproj) file, not a language model",
            "choose the main .gguf model file",
        )
    if not _architecture_supported(arch):
        raise ModelError(
            f"{name} has architecture {shorten(arch)}, which this llama.cpp cannot run",
            "choose a model built on a supported architecture such as llama, "
            "qwen2/qwen3 or gemma3, or update llama-cpp-python",
        )
    return arch


def check_gguf(path: str | os.PathLike) -> GgufInfo:
    """Check that a file is a well-formed GGUF model llama.cpp can load; raise ModelError if not."""
    path = Path(path)
    name = path.name if path.name.isprintable() else ascii(path.name)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise ModelError(f"{name} is a directory, not a model file", "choose the .gguf file")
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"{name} is not a regular file", _NOT_A_MODEL)
        if st.st_size == 0:
            raise ModelError(f"{name} is empty (0 bytes)", _REDOWNLOAD)
        with open(path, "rb") as f:
            return _check_open_file(f, path, name, os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        raise ModelError(f"model file {name} does not exist", "check the model path") from None
    except PermissionError:
        raise ModelError(
            f"{name} cannot be read: permission denied", "check the file's permissions"
        ) from None
    except OSError as e:
        raise ModelError(f"{name} cannot be read: {e.strerror or e}", "check the disk") from None
    except MemoryError:
        raise ModelError(f"{name} could not be checked: out of memory", _REDOWNLOAD) from None
    except (struct.error, ValueError, OverflowError, IndexError) as e:  # a safety net
        raise ModelError(f"{name} is corrupt: {one_line(str(e))}", _REDOWNLOAD) from None


def _check_open_file(f: BinaryIO, path: Path, name: str, size: int) -> GgufInfo:
    head = f.read(64)
    if size < 8 and (head.startswith(b"GGUF") or b"GGUF".startswith(head)):
        raise ModelError(
            f"{name} is truncated: it ends before the GGUF version number", _REDOWNLOAD
        )
    if head[:4] != b"GGUF":
        raise ModelError(
            f"{name} is not a GGUF file: {_describe_foreign(head, path)}", _NOT_A_MODEL
        )
    f.seek(4)
    r = _Reader(f, size, name)
    r.start = 4
    (version,) = r.unpack(_U32)
    if version and version & 0xFFFF == 0:  # a byte-swapped 2 or 3
        raise ModelError(
            f"{name} is a big-endian GGUF file, which this computer cannot load",
            "download the little-endian version of the model",
        )
    if version == 1:
        raise ModelError(
            f"{name} uses GGUF version 1, an obsolete format",
            "download a current GGUF conversion of the model",
        )
    if version not in (2, 3):
        raise ModelError(
            f"{name} uses GGUF version {version:,}; only versions 2 and 3 are supported",
            "the file is corrupt or newer than this Parley",
        )
    n_tensors, n_kv = r.unpack(_HEADER_COUNTS)
    if n_tensors > MAX_TENSORS:
        raise r.corrupt(f"the header claims {n_tensors:,} tensors (the limit is {MAX_TENSORS:,})")
    if n_kv > MAX_KV:
        raise r.corrupt(f"the header claims {n_kv:,} metadata entries (the limit is {MAX_KV:,})")
    if 24 + n_tensors * 25 + n_kv * 14 > size:  # the smallest tensor info and entry
        raise ModelError(
            f"{name} is truncated or corrupt: its header lists {n_tensors:,} "
            f"tensors and {n_kv:,} metadata entries, which cannot fit in {size:,} "
            "bytes",
            _REDOWNLOAD,
        )

    metadata: dict[str, object] = {}
    for i in range(n_kv):
        r.where = f"metadata (entry {i:,})"
        key = str(r.text(f"the key of metadata entry {i:,}", MAX_KEY_BYTES, MAX_KEY_BYTES))
        if not key:
            raise r.corrupt(f"metadata entry {i:,} has an empty key")
        if key in metadata:
            raise r.corrupt(f"metadata key {shorten(key)} appears twice")
        r.where = f"metadata (entry {shorten(key)})"
        (vtype,) = r.unpack(_U32)
        metadata[key] = _read_value(r, key, vtype)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise r.corrupt(f"general.alignment is {shorten(str(alignment))}, not a power of two")

    tensors: list[tuple[str, int, int]] = []  # name, offset, bytes
    seen: set[str] = set()
    for i in range(n_tensors):
        r.where = f"tensor infos (tensor {i:,})"
        tname = str(r.text(f"the name of tensor {i:,}", MAX_TENSOR_NAME))
        if not tname or tname in seen:
            raise r.corrupt(f"tensor {i:,} has an empty or duplicate name {shorten(tname)}")
        seen.add(tname)
        shown = shorten(tname)
        r.where = f"tensor infos (tensor {shown})"
        (n_dims,) = r.unpack(_U32)
        if n_dims > MAX_DIMS:
            raise r.corrupt(f"tensor {shown} has {n_dims:,} dimensions (llama.cpp allows 4)")
        dims = list(r.unpack(struct.Struct(f"<{n_dims}q")))
        if any(d <= 0 for d in dims):
            raise r.corrupt(f"tensor {shown} has a zero or negative dimension {dims}")
        elements = 1
        for d in dims:
            elements *= d
        if elements > _INT64_MAX:
            raise r.corrupt(f"tensor {shown} has dimensions {dims} whose product overflows 64 bits")
        ttype, offset = r.unpack(_TYPE_OFFSET)
        if ttype not in GGML_TYPES:
            raise ModelError(
                f"{name} is corrupt or too new: tensor {shown} has unknown tensor type {ttype}",
                "update Parley, or download the model again",
            )
        type_name, block, block_bytes = GGML_TYPES[ttype]
        row = dims[0] if dims else 1
        if row % block:
            raise r.corrupt(
                f"tensor {shown} has rows of {row:,} elements, not a whole number "
                f"of {type_name} blocks of {block}"
            )
        if offset % alignment:
            raise r.corrupt(
                f"tensor {shown} data offset {offset:,} is not a multiple of the "
                f"alignment {alignment}"
            )
        tensors.append((shown, offset, elements // block * block_bytes))
    _check_data_layout(r, tensors, -(-r.tell() // alignment) * alignment, alignment)

    arch = _check_architecture(name, metadata.get("general.architecture"))
    model_name = metadata.get("general.name")
    template = metadata.get("tokenizer.chat_template")
    ctx = metadata.get(f"{arch}.context_length")
    return GgufInfo(
        path=path,
        version=version,
        tensor_count=n_tensors,
        metadata=metadata,
        architecture=arch,
        name=model_name if isinstance(model_name, str) else None,
        chat_template=template if isinstance(template, str) else None,
        context_length=ctx if type(ctx) is int and ctx > 0 else None,
        file_size=size,
    )
