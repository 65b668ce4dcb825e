"""Builds an Assistant from settings: resolve each model, load it, warm it once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from desktop.config import Settings
from desktop.engine.conversation.turn import Assistant
from desktop.engine.conversation.turn_end import load_turn_end
from desktop.engine.llm.backend import SamplingOptions
from desktop.engine.llm.llama import LlamaCppBackend
from desktop.engine.llm.remote import FallbackBackend, RemoteBackend, RemoteError
from desktop.engine.skills.mcp_servers import McpServers
from desktop.engine.skills.skills import Skills, VoicePace
from desktop.engine.skills.timers import TimerStore
from desktop.engine.speech.stt import Transcriber
from desktop.engine.speech.tts import Synthesizer
from desktop.errors import ParleyError
from desktop.library import registry

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def thread_split(settings: Settings, live_audio: bool = False) -> dict[str, int]:
    """Threads per stage. Offline, every stage gets every core: STT runs before the
    LLM, and the turn holds the LLM while the first clause is synthesized
    (bench/turn.py, 2 cores: a 1-thread voice racing the LLM cost ~80 ms).

    With live audio one core is left to the audio threads when the setting is
    automatic: on 2 cores, LLM and voice on both starved the sound card
    (underruns, and echo cancellation slipped until Parley heard itself), and
    bench/voice_latency.py measured barge-in stops 358 -> 277 ms p50 and
    first audio 475 -> 449 ms with one compute thread."""
    cores = settings.cpu_threads
    compute = max(1, cores - 1) if live_audio and not settings.threads else cores
    return {"llm": compute, "stt": cores, "tts": compute}


def _with_remote(settings: Settings, local: LlamaCppBackend, say: Progress) -> FallbackBackend:
    """The configured server answers; the local model stands by to take over."""
    remote = RemoteBackend(
        settings.remote_url, settings.remote_model, settings.remote_api_key, local.sampling
    )
    try:
        served = remote.health()
        say(f"using {remote.description} ({len(served)} models served there)")
    except RemoteError as exc:
        log.warning("remote unavailable at start: %s", exc.one_line())
        say(f"{exc.message}; the local model answers until it is back")
    return FallbackBackend(remote, local)


def load_assistant(
    settings: Settings,
    *,
    llm_path: str | None = None,
    need_stt: bool = True,
    need_tts: bool = True,
    live_audio: bool = False,
    progress: Progress | None = None,
) -> Assistant:
    """Load the models a session needs; raises ModelError naming the one that failed."""
    say = progress or (lambda message: None)
    threads = thread_split(settings, live_audio)
    llm_entry = registry.resolve("llm", settings, override=llm_path)
    say(f"loading {llm_entry.name}")
    started = time.perf_counter()
    llm = LlamaCppBackend(
        llm_entry.path,
        context_size=settings.context_size,
        threads=threads["llm"],
        sampling=SamplingOptions(max_tokens=settings.max_tokens, temperature=settings.temperature),
    )
    llm.warm(settings.system_prompt)
    log.info("loaded %s in %.0f ms", llm_entry.path, (time.perf_counter() - started) * 1000)
    models: dict[str, str | None] = {"llm": str(llm_entry.path), "stt": None, "tts": None}
    # Live voice only: whether a pause ends the turn (the local model, also when a
    # server answers: it is loaded as the fallback anyway).
    turn_end = None
    if need_stt and settings.turn_end_by_model:
        turn_end = load_turn_end(llm, settings.system_prompt)
    if settings.remote_url:
        llm = _with_remote(settings, llm, say)
        models["llm"] = llm.description

    stt = None
    if need_stt:
        entry = registry.resolve("stt", settings)
        say(f"loading speech recognition ({entry.name})")
        stt = Transcriber(
            entry.path, threads=threads["stt"], short_window=settings.stt_short_window
        )
        models["stt"] = str(entry.path)
    tts = None
    if need_tts:
        entry = registry.resolve("tts", settings)
        say(f"loading voice ({entry.name})")
        tts = Synthesizer(
            entry.path,
            threads=threads["tts"],
            rate=settings.voice_rate,
            gain_db=settings.voice_gain_db,
        )
        models["tts"] = str(entry.path)
    skills = load_skills(settings) if settings.local_intents else None
    assistant = Assistant(
        llm, stt, tts, settings.system_prompt, models=models, turn_end=turn_end, skills=skills
    )
    if assistant.tools is not None and settings.mcp_servers:
        say("starting the MCP servers")
        assistant.tools.mcp = McpServers(list(settings.mcp_servers))
        assistant.tools.always_allowed = set(settings.mcp_always_allow)
        for failure in assistant.tools.mcp.failures:
            say(failure)
    return assistant


def load_skills(settings: Settings) -> Skills | None:
    """The local intents and the timers file; None (and a log line) if they cannot load:
    Parley still answers through the chat model."""
    try:
        return Skills(TimerStore(), VoicePace(settings.voice_rate, settings.voice_gain_db))
    except (ParleyError, ImportError) as exc:
        message = exc.one_line() if isinstance(exc, ParleyError) else str(exc)
        log.warning("local intents are off: %s", message)
        return None
