"""Settings: a frozen dataclass, stored as TOML in the user config folder.

A broken settings file is never overwritten: loading it raises a
``ConfigError`` that names the file and the line, so nothing the user wrote is
lost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

import tomli_w

from desktop import paths
from desktop.errors import ConfigError

log = logging.getLogger(__name__)

# Tuned on the 135M starter model: naming the assistant "Parley" in the prompt
# made it answer in French, and asking for "plain English" keeps it on track.
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful voice assistant. Answer briefly in plain English, "
    "in one or two short sentences, without lists or markdown."
)


@dataclass(frozen=True)
class Settings:
    """Everything a user can choose. Empty model paths mean "the starter model"."""

    llm_model: str = ""
    stt_model: str = ""
    tts_voice: str = ""
    threads: int = 0
    context_size: int = 2048
    max_tokens: int = 200
    temperature: float = 0.6
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    stt_short_window: bool = True  # 10 s whisper window: ~4x faster STT, see stt.py
    turn_end_by_model: bool = True  # the chat model judges mid-sentence pauses (turn_end.py)
    input_device: str = ""  # part of a device name; "" is the system default
    output_device: str = ""
    echo_cancellation: bool = True  # off: half duplex, the mic is gated while Parley speaks
    hands_free: bool = False
    remote_url: str = ""  # an OpenAI-compatible server (llama-server, Ollama, vLLM); "" = local
    remote_model: str = ""  # the model name the server should use; "" = its default
    remote_api_key: str = ""
    caption_mode: bool = False  # large high-contrast captions instead of the chat view
    caption_size: int = 28  # points
    keep_history: bool = True  # save each turn to the history database on this device
    satellites: tuple[str, ...] = ()  # Wyoming satellites the hub connects to: tcp://HOST:PORT
    local_intents: bool = True  # the time, timers, reminders... answered without the LLM
    voice_rate: float = 1.0  # the voice's pace ("speak slower": 1/1.2 of it)
    voice_gain_db: float = 0.0  # "louder" / "quieter", in 3 dB steps
    mcp_servers: tuple[str, ...] = ()  # MCP servers' command lines (stdio), for tools
    mcp_always_allow: tuple[str, ...] = ()  # "server/tool": runs without asking

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (automatic) or more, not {self.threads}")
        if not 256 <= self.context_size <= 1_048_576:
            raise ConfigError(
                f"context_size must be between 256 and 1048576, not {self.context_size}"
            )
        if not 1 <= self.max_tokens < self.context_size:
            raise ConfigError(
                f"max_tokens must be at least 1 and below context_size, not {self.max_tokens}"
            )
        if self.remote_url and not self.remote_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"remote_url must start with http:// or https://, not {self.remote_url!r}"
            )
        if not 14 <= self.caption_size <= 72:
            raise ConfigError(f"caption_size must be between 14 and 72, not {self.caption_size}")
        for uri in self.satellites:
            satellite_address(uri)
        if not 0.5 <= self.voice_rate <= 2.0:
            raise ConfigError(f"voice_rate must be between 0.5 and 2, not {self.voice_rate}")
        if not -18.0 <= self.voice_gain_db <= 9.0:
            raise ConfigError(f"voice_gain_db must be between -18 and 9, not {self.voice_gain_db}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"temperature must be between 0 and 2, not {self.temperature}")

    @property
    def cpu_threads(self) -> int:
        """The thread count to use: the setting, or every core when it is 0."""
        return self.threads or max(1, os.cpu_count() or 1)

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)


def remember_settings(values: dict[str, object], path: Path | None = None) -> Settings:
    """Keep settings changed by voice ("speak slower") in the settings file."""
    settings = load_settings(path).replace(**values)
    save_settings(settings, path)
    return settings


def satellite_address(uri: str) -> tuple[str, int]:
    """'tcp://glasses.local:10700' -> ('glasses.local', 10700); ConfigError otherwise."""
    parts = urlsplit(uri.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise ConfigError(f"a satellite is named tcp://HOST:PORT, not {uri!r}")
    return parts.hostname, port


def load_settings(path: Path | None = None) -> Settings:
    """Read settings; a missing file gives the defaults."""
    path = path or paths.settings_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the settings file {path} is not valid TOML: {exc}",
            "fix that line, or move the file away to start from the defaults",
        ) from exc
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, object] = {}
    for key, value in raw.items():
        if key not in known:
            log.warning("ignoring unknown setting %r in %s", key, path)
            continue
        expected = type(Settings.__dataclass_fields__[key].default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = tuple(value)
        if type(value) is not expected:
            raise ConfigError(
                f"setting {key} in {path} must be a {expected.__name__}, not {value!r}"
            )
        values[key] = value
    return Settings(**values)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically (temp file, then rename) so a crash keeps the old file."""
    path = path or paths.settings_file()
    tmp = path.with_suffix(".toml.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(tomli_w.dumps(dataclasses.asdict(settings)), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot save settings to {path}: {exc.strerror or exc}") from exc
    return path
