"""Small ELF readers for the Linux build (parley.spec, build.py, the tests).

Only 64-bit little-endian files (x86-64, aarch64) are understood; anything else
is reported as "not ELF" so callers leave it alone.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

PT_LOAD = 1
SHT_SYMTAB = 2
PAGE = 4096


def _elf64(data: bytes) -> bool:
    return data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1


def is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return _elf64(f.read(6))


def has_symbols(path: Path) -> bool:
    """True for an ELF file with a .symtab section: what ``strip`` removes."""
    data = Path(path).read_bytes()
    if not _elf64(data):
        return False
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    return any(
        struct.unpack_from("<I", data, shoff + i * shentsize + 4)[0] == SHT_SYMTAB
        for i in range(shnum)
    )


def load_segments_aligned(path: Path) -> bool:
    """True if every PT_LOAD segment has offset and address congruent modulo its
    alignment and the page size, as the dynamic loader requires. ``strip`` on a
    library that patchelf rewrote (auditwheel does) can break this, and the
    loader then refuses it: "ELF load command address/offset not page-aligned"."""
    data = Path(path).read_bytes()
    if not _elf64(data):
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        base = phoff + i * phentsize
        p_type, _flags, offset, vaddr = struct.unpack_from("<IIQQ", data, base)
        (align,) = struct.unpack_from("<Q", data, base + 48)
        if p_type != PT_LOAD:
            continue
        if offset % PAGE != vaddr % PAGE or (align > 1 and offset % align != vaddr % align):
            return False
    return True


def needed(path: Path) -> list[str]:
    """The sonames an ELF file asks the loader for (DT_NEEDED), via readelf."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", out)


def strip_copy(src: Path, copy: Path) -> bool:
    """Strip ``src`` into ``copy``; False (and no copy) if the result would not load."""
    import shutil

    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, copy)
    done = subprocess.run(["strip", "--strip-unneeded", str(copy)], capture_output=True)
    if done.returncode != 0 or not load_segments_aligned(copy):
        copy.unlink()
        return False
    return True
