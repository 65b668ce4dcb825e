"""Will it fit? Memory and speed estimates for catalog models, and a recommended set.

Everything here is arithmetic on catalog fields (file sizes, layers, KV width)
and a few constants measured on the starter set; no model is imported or
loaded. RAM figures are MiB, as the kernel reports them (``/proc/meminfo``,
``ru_maxrss``); catalog sizes are the hub's decimal megabytes and are converted.

The constants come from ``python -m desktop.library.fit measure``, which runs
fresh Python processes: one that only imports the runtime ("base"), one that
loads the starter LLM alone ("llm"), and one that loads the starter set as
``load_assistant`` does, recording memory as each model starts loading, then
answers a spoken question aloud ("pipeline"). One run on the development
machine, 2 cores (x86-64), Linux, Python 3.11, llama-cpp-python 0.3.36,
faster-whisper 1.2.1 (CTranslate2 4.8.5), onnxruntime 1.32.0, piper-tts 1.8.0:

    base      rss 92.8
    llm       loaded 255.2, after a short reply 259.8, after a 700-token prompt 286.3;
              first token 48 ms, 92.7 tokens/s
    pipeline  before STT 259.1, before the voice 393.3 (peak 431.7 while whisper
              converted its weights), loaded 467.6, after the turn 611.7 (the peak);
              STT 72 ms, first token 163 ms, first audio 240 ms, a 7-word clause
              synthesized in 66 ms

So the starter set needs, on top of the runtime, 193 MiB for the LLM (with a
long prompt), 134 MiB for whisper and 218 MiB for the voice through a turn of
full-length clauses; those are the starter entries' ``ram_mb``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass

from desktop.library.catalog import CatalogEntry

MIB = 1024 * 1024

# --- memory ---------------------------------------------------------------

# Python, numpy, llama_cpp, faster_whisper, onnxruntime, piper and Parley's
# engine modules, before any model ("base": 92.8 MiB; the four libraries alone
# peak at 90.4).
RUNTIME_BASE_MB = 93

# An LLM is its weights (mmap'd, and every token reads all of them), its KV
# cache (allocated and cleared at load, so resident at once), and:
# - llama.cpp's fixed buffers, vocabulary tables and llama-cpp-python's arrays:
#   the starter loaded is 255.2 - 92.9 (runtime) - 93.8 (weights) - 45.0 (KV at
#   2048) = 23 MiB;
LLM_RUNTIME_MB = 23
# - the compute buffer a turn touches: a prompt is evaluated 512 tokens at a
#   time, and a 512-token batch touches activations as wide as the model
#   (n_embd, n_ff, heads x context). Width grows as the square root of the
#   parameter count (params ~ 12 layers width^2), so this is a constant times
#   sqrt(weights in GiB): the 700-token prompt added 286.3 - 255.2 = 31 MiB to
#   the starter's 0.092 GiB of weights, 31 / sqrt(0.092) = 102.
LLM_COMPUTE_MB_PER_SQRT_GIB = 100
KV_BYTES_PER_VALUE = 2  # f16 K and V, llama.cpp's default cache type

# faster-whisper: CTranslate2 reads the float16 model.bin, converts it to int8
# and packs it for its GEMM kernels; with the tokenizer and the encoder's
# activations the starter tiny.en grew the process by 393.3 - 259.1 = 134 MiB,
# 1.9 times its catalog size (75 MB). The load-time peak is higher (+38 MiB)
# but freed before the voice loads, and the heap reuses it.
STT_RUNTIME_FACTOR = 1.9
# piper: onnxruntime holds the voice's initializers, and its arena keeps the
# activations of the longest clause so far, which grow with the clause (a
# 30-word clause, the chunker's longest, about 8 s of audio, takes ~170 MiB on
# a medium voice). The starter voice grew the process by 611.7 - 393.3 = 218
# MiB through load and a turn of full-length clauses: 3.75 times its catalog
# size (61 MB).
TTS_RUNTIME_FACTOR = 3.75

# A set "fits" when it needs at most 60% of the memory available now: the
# rest stays for the desktop, a browser and the page cache (the weights are
# mmap'd, so a squeezed cache means reading them from disk again, and memory
# held by others grows). Up to 90% it runs but is "tight": other programs get
# swapped out, or answers stall while evicted weight pages come back. Beyond
# that it is "too big".
FITS_SHARE = 0.60
TIGHT_SHARE = 0.90

# --- speed ----------------------------------------------------------------
# Work per MiB of model in core-milliseconds, from the starter turn on 2 cores
# ("pipeline" and "llm" above): STT 72 ms x 2 / 71.5 MiB; the first token
# 163 - 72 = 91 ms x 2 / 93.8 MiB (the new tokens of a spoken question, the
# system prompt already cached); decode 1000 / 92.7 ms x 2 / 93.8 MiB per
# token; the first clause's speech 66 ms x 2 / 58.2 MiB. A bigger model costs
# proportionally more; more cores divide the work, up to USEFUL_CORES.
STT_CORE_MS_PER_MIB = 2.0
PREFILL_CORE_MS_PER_MIB = 1.9
DECODE_CORE_MS_PER_MIB = 0.23  # per generated token
TTS_CORE_MS_PER_MIB = 2.3
USEFUL_CORES = 8  # llama.cpp, CTranslate2 and onnxruntime scale poorly past this
# Each generated token reads all the weights once, so decode can never beat
# the memory bandwidth. Assumed, not measured here (2 cores stay compute-bound
# at 8.5 GiB/s): ~25 GB/s, about what llama.cpp gets from dual-channel DDR4
# in a small PC or laptop; single-channel hubs have less, workstations more.
MEMORY_MIB_PER_S = 24_000
FIRST_CLAUSE_TOKENS = 6  # the chunker speaks once 3 words are in: about 6 tokens


@dataclass(frozen=True)
class DeviceInfo:
    """The machine a set of models should fit on."""

    total_mb: int
    available_mb: int
    cores: int


def _meminfo() -> tuple[int, int] | None:
    """(total, available) MiB from /proc/meminfo, or None off Linux."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        total = int(fields["MemTotal"].split()[0]) // 1024
        available = int(fields.get("MemAvailable", fields["MemTotal"]).split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        return None
    return total, available


def _cgroup_limit_mb() -> int | None:
    """A container's memory limit (cgroup v2), when one is set."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            value = handle.read().strip()
    except OSError:
        return None
    return int(value) // MIB if value.isdigit() else None


def _windows_memory() -> tuple[int, int] | None:
    try:
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [
                ("dwLength", ctypes.c_ulong),
                ("dwMemoryLoad", ctypes.c_ulong),
                ("ullTotalPhys", ctypes.c_ulonglong),
                ("ullAvailPhys", ctypes.c_ulonglong),
                ("ullTotalPageFile", ctypes.c_ulonglong),
                ("ullAvailPageFile", ctypes.c_ulonglong),
                ("ullTotalVirtual", ctypes.c_ulonglong),
                ("ullAvailVirtual", ctypes.c_ulonglong),
                ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
            ]

        status = MemoryStatus()
        status.dwLength = ctypes.sizeof(MemoryStatus)
        if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return None
        return status.ullTotalPhys // MIB, status.ullAvailPhys // MIB
    except (AttributeError, OSError, ValueError):
        return None


def _sysconf_memory() -> tuple[int, int] | None:
    """Total from sysconf (Linux, macOS, BSD); available where the system says, else total."""
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total = os.sysconf("SC_PHYS_PAGES") * page // MIB
    except (AttributeError, OSError, ValueError):
        return None
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * page // MIB  # not on macOS
    except (AttributeError, OSError, ValueError):
        available = total
    return total, available


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # the cores this process may use
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def device() -> DeviceInfo:
    """This machine's memory (MiB) and cores. Never raises: unknown values fall back
    to total memory, then to a modest 4 GiB."""
    memory = _meminfo() or (_windows_memory() if sys.platform == "win32" else None)
    memory = memory or _sysconf_memory() or (4096, 4096)
    total, available = memory
    limit = _cgroup_limit_mb()
    if limit:
        total, available = min(total, limit), min(available, limit)
    available = available if 0 < available <= total else total
    return DeviceInfo(total_mb=max(1, total), available_mb=max(1, available), cores=_cores())


def _mib(size_mb: float) -> float:
    """Catalog megabytes (10^6 bytes, as the hub lists them) in MiB."""
    return size_mb * 1_000_000 / MIB


def kv_cache_mb(entry: CatalogEntry, context_size: int = 2048) -> float:
    """The LLM's KV cache: K and V for every layer and position, f16."""
    return 2 * entry.layers * entry.kv_dim * context_size * KV_BYTES_PER_VALUE / MIB


def model_ram_mb(entry: CatalogEntry, context_size: int = 2048) -> int:
    """Resident memory one model adds to the process at its peak, in MiB (estimated)."""
    size = _mib(entry.size_mb)
    if entry.role == "llm":
        compute = LLM_COMPUTE_MB_PER_SQRT_GIB * math.sqrt(size / 1024)
        need = size + kv_cache_mb(entry, context_size) + LLM_RUNTIME_MB + compute
    elif entry.role == "stt":
        need = size * STT_RUNTIME_FACTOR
    else:
        need = size * TTS_RUNTIME_FACTOR
    return max(1, round(need))


def pipeline_ram_mb(
    llm: CatalogEntry,
    stt: CatalogEntry | None,
    tts: CatalogEntry | None,
    context_size: int = 2048,
) -> int:
    """Peak resident memory of a whole session: the runtime plus each model (MiB)."""
    models = [entry for entry in (llm, stt, tts) if entry is not None]
    return RUNTIME_BASE_MB + sum(model_ram_mb(entry, context_size) for entry in models)


def fit_label(need_mb: int, device_info: DeviceInfo) -> str:
    """'fits', 'tight' or 'too big' for this much memory on this device (thresholds above)."""
    available = max(1, device_info.available_mb)
    if need_mb <= FITS_SHARE * available:
        return "fits"
    if need_mb <= TIGHT_SHARE * available:
        return "tight"
    return "too big"


def _effective_cores(cores: int) -> int:
    return max(1, min(cores, USEFUL_CORES))


def tokens_per_s(entry: CatalogEntry, cores: int) -> float:
    """Estimated decode speed of an LLM: compute-bound on few cores, memory-bound on many."""
    size = max(_mib(entry.size_mb), 1.0)
    compute_ms = DECODE_CORE_MS_PER_MIB * size / _effective_cores(cores)
    memory_ms = size / MEMORY_MIB_PER_S * 1000
    return 1000 / max(compute_ms, memory_ms)


def voice_to_voice_ms(
    llm: CatalogEntry, stt: CatalogEntry | None, tts: CatalogEntry | None, cores: int
) -> float:
    """Estimated time from the end of a spoken question to the first sound of the answer:
    transcription, the prompt, the first clause's tokens, and that clause's synthesis."""
    workers = _effective_cores(cores)
    stt_ms = STT_CORE_MS_PER_MIB * _mib(stt.size_mb) / workers if stt else 0.0
    prompt_ms = PREFILL_CORE_MS_PER_MIB * _mib(llm.size_mb) / workers
    clause_ms = FIRST_CLAUSE_TOKENS * 1000 / tokens_per_s(llm, cores)
    tts_ms = TTS_CORE_MS_PER_MIB * _mib(tts.size_mb) / workers if tts else 0.0
    return stt_ms + prompt_ms + clause_ms + tts_ms


def _speaks(entry: CatalogEntry, language: str) -> bool:
    return any(code.split("_")[0].split("-")[0] == language for code in entry.languages)


def _english_only(entry: CatalogEntry) -> bool:
    return entry.languages == ("en",)


def recommend(
    entries: list[CatalogEntry],
    device_info: DeviceInfo,
    target_v2v_ms: int = 1200,
    language: str = "en",
    *,
    context_size: int = 2048,
    reasoning: bool = False,
) -> dict[str, CatalogEntry]:
    """One LLM, STT and voice for ``language`` that fit this device together.

    The largest LLM wins whose set fits and whose estimated voice-to-voice
    time meets the target. Beside it: the largest speech recognizer that
    keeps within a quarter of the target and fits (English gets the
    English-only whisper models, better at English for their size), and a
    voice that speaks the language (the installed starter voice where it
    does). When no set meets the target, the quickest set that fits; when none
    fits, the smallest "tight" set; when nothing runs at all, the smallest
    set. Reasoning models think before they answer and never meet a voice
    target, so they are left out unless ``reasoning`` is set. Raises
    ValueError when the catalog has no model of some role for the language.
    """
    language = language.lower().split("_")[0].split("-")[0] or "en"

    def pool(role: str) -> list[CatalogEntry]:
        found = [e for e in entries if e.role == role and _speaks(e, language)]
        if role == "llm" and not reasoning:
            found = [e for e in found if not e.reasoning]
        if not found:
            raise ValueError(f"the catalog has no {role} model for language {language!r}")
        return found

    llms, stts, voices = pool("llm"), pool("stt"), pool("tts")
    if language == "en" and any(_english_only(e) for e in stts):
        stts = [e for e in stts if _english_only(e)]
    voice = min(voices, key=lambda e: (not e.starter, e.size_mb, e.id))
    workers = _effective_cores(device_info.cores)
    by_size = sorted(stts, key=lambda e: (e.size_mb, e.id))
    quick = [
        e for e in by_size if STT_CORE_MS_PER_MIB * _mib(e.size_mb) / workers <= target_v2v_ms / 4
    ]
    stt_order = list(reversed(quick)) or by_size[:1]  # the largest quick one first
    sets = [(llm, stt) for llm in llms for stt in stt_order]

    def need(pair: tuple[CatalogEntry, CatalogEntry]) -> int:
        return pipeline_ram_mb(pair[0], pair[1], voice, context_size)

    def v2v(pair: tuple[CatalogEntry, CatalogEntry]) -> float:
        return voice_to_voice_ms(pair[0], pair[1], voice, device_info.cores)

    def chosen(pair: tuple[CatalogEntry, CatalogEntry]) -> dict[str, CatalogEntry]:
        return {"llm": pair[0], "stt": pair[1], "tts": voice}

    fitting = [pair for pair in sets if fit_label(need(pair), device_info) == "fits"]
    if fitting:
        # Largest LLM first; beside it the largest recognizer that fits, which gives
        # way only to memory (a smaller one never buys a bigger LLM time).
        for llm in sorted(llms, key=lambda e: (-e.parameters_b, e.size_mb, e.id)):
            pair = next((p for p in fitting if p[0] is llm), None)
            if pair is not None and v2v(pair) <= target_v2v_ms:
                return chosen(pair)
        return chosen(min(fitting, key=lambda p: (v2v(p), p[0].id)))
    tight = [pair for pair in sets if fit_label(need(pair), device_info) == "tight"]
    if tight:
        return chosen(min(tight, key=lambda p: (need(p), p[0].id)))
    return chosen(
        (min(llms, key=lambda e: (e.size_mb, e.id)), min(stts, key=lambda e: (e.size_mb, e.id)))
    )


# --- measurement ------------------------------------------------------------

# Run in a fresh interpreter by `measure`. Memory is read from /proc/self/status
# (VmRSS now, VmHWM the peak) where there is one, else from ru_maxrss.
_MEASURE_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
import llama_cpp, faster_whisper, onnxruntime, piper  # noqa: F401  the runtime, before any model
from desktop.config import Settings
from desktop.engine import loading

from desktop.library import registry

def memory():
    try:
        with open("/proc/self/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return {"rss": int(fields["VmRSS"].split()[0]) / 1024,
                "peak": int(fields["VmHWM"].split()[0]) / 1024}
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak /= 1024 * 1024 if sys.platform == "darwin" else 1024
        return {"rss": peak, "peak": peak}

kind, context = sys.argv[1], int(sys.argv[2])
settings = Settings(temperature=0.0, context_size=context)
result = {"kind": kind, "base": memory()}
if kind == "llm":
    from desktop.engine.llm.backend import SamplingOptions
    from desktop.engine.llm.llama import LlamaCppBackend
    path = {e.role: e.path for e in registry.starter_models()}["llm"]
    llm = LlamaCppBackend(path, context_size=context, threads=settings.cpu_threads,
                          sampling=SamplingOptions(max_tokens=64, temperature=0.0))
    result["loaded"] = memory()
    llm.warm(settings.system_prompt)
    system = {"role": "system", "content": settings.system_prompt}
    question = {"role": "user", "content": "Tell me about the moon."}
    started, pieces = time.perf_counter(), 0
    for piece in llm.stream_reply([system, question]):
        pieces += 1
        if pieces == 1:
            first = time.perf_counter()
    result["first_token_ms"] = (first - started) * 1000
    result["tokens_per_s"] = (pieces - 1) / (time.perf_counter() - first)
    result["used"] = memory()
    # A long prompt, evaluated 512 tokens at a time: the most compute buffer a turn touches.
    long = {"role": "user", "content": "Tell me about the moon and the sea. " * 80}
    "".join(llm.stream_reply([system, long]))
    result["long_prompt"] = memory()
elif kind == "pipeline":
    import soxr
    stages = []  # memory as each model starts loading: before the LLM, the STT, the voice
    assistant = loading.load_assistant(settings, progress=lambda text: stages.append(memory()))
    result["before_stt"], result["before_tts"] = stages[1], stages[2]
    result["loaded"] = memory()
    started = time.perf_counter()
    spoken = assistant.tts.synthesize("Tell me three facts about the moon.")
    result["first_clause_tts_ms"] = (time.perf_counter() - started) * 1000
    audio = soxr.resample(spoken.astype(np.float32) / 32768, assistant.tts.sample_rate, 16000)
    turn = assistant.run_turn(audio=audio, speak=True)
    result["transcript"], result["reply_words"] = turn.transcript, len(turn.reply.split())
    result["timings"] = turn.timings
    result["turn"] = memory()
print(json.dumps(result))
"""


def measure(kind: str, context_size: int = 2048, timeout: float = 600) -> dict:
    """Memory (MiB) and timings of a fresh process that imports the runtime and, for
    "llm", loads the starter LLM alone; for "pipeline", loads the starter set as
    ``load_assistant`` does and answers one spoken question aloud; "base" loads nothing."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE_SCRIPT, kind, str(context_size)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring {kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """``python -m desktop.library.fit measure [CONTEXT]``: the numbers behind the constants."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "measure":
        print("usage: python -m desktop.library.fit measure [CONTEXT]", file=sys.stderr)
        return 2
    context = int(args[1]) if len(args) > 1 else 2048
    for kind in ("base", "llm", "pipeline"):
        print(json.dumps(measure(kind, context)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
