"""The engine's vocabulary: small typed events.

The CLI, the window (through the engine host) and the tests all read these
same events, so a behaviour seen in one is the behaviour of all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class State:
    """What the assistant is doing now: listening, transcribing, thinking, speaking, idle."""

    name: str


@dataclass(frozen=True)
class Level:
    """The microphone's input level, a few times a second, for a meter."""

    dbfs: float


@dataclass(frozen=True)
class VoiceActivity:
    """The endpointer heard the user start (``speaking``) or finish an utterance:
    what a satellite shows on its LEDs (Wyoming's voice-started / voice-stopped)."""

    speaking: bool


@dataclass(frozen=True)
class Transcript:
    """What the user said, as text."""

    text: str
    final: bool = True


@dataclass(frozen=True)
class Token:
    """A piece of the reply as it is written; reasoning pieces are never spoken."""

    text: str
    reasoning: bool = False


@dataclass(frozen=True)
class Speech:
    """One synthesized clause of the reply, ready to play."""

    text: str
    audio: np.ndarray = field(repr=False)
    sample_rate: int


@dataclass(frozen=True)
class Timing:
    """How long a stage of the turn took, in milliseconds from the turn's start."""

    stage: str
    ms: float


@dataclass(frozen=True)
class Heard:
    """The first sound of a spoken reply left the speaker, ``voice_to_voice_ms`` after
    the user's voice ended: both moments on the audio device's own clock (PortAudio's
    capture and playback times), as a person in the room hears them. Then where the
    time went: the endpoint's wait (from the voice's last sample to the decision that
    the user had finished), the reply (transcript left, first token, first clause
    synthesized), and the audio path (queued to the speaker until it sounded).
    Sent once per spoken reply, when its first sample plays: after the TurnResult
    when the reply was written before it was heard."""

    voice_to_voice_ms: float
    endpoint_ms: float
    reply_ms: float
    audio_path_ms: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not a failure (e.g. context trimmed)."""

    message: str


@dataclass(frozen=True)
class SettingsChanged:
    """The user changed a setting by voice ("speak slower"): the front keeps it."""

    values: dict[str, Any]


@dataclass(frozen=True)
class ToolUse:
    """The chat model called a tool: its name, arguments and what it answered."""

    name: str
    arguments: dict[str, Any]
    result: str


@dataclass(frozen=True)
class Alarm:
    """A timer or reminder rang: ``text`` is what Parley says. ``late_ms``: from its due
    second to the chime's first sample on the speaker (to when it rang, without one)."""

    timer_id: int
    title: str
    text: str
    late_ms: float


@dataclass(frozen=True)
class Failure:
    """A turn ended with an error the user can read."""

    message: str
    hint: str = ""


@dataclass(frozen=True)
class TurnResult:
    """The outcome of one turn, as printed by ``parley ask --json``."""

    transcript: str
    reply: str
    reasoning: str
    timings: dict[str, float | None]
    models: dict[str, str | None]
    cancelled: bool = False
    intent: str = ""  # answered by a local intent (skills/), not the chat model
    tools: list[dict[str, Any]] = field(default_factory=list)  # calls: name, arguments, result

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Event = (
    State
    | Level
    | VoiceActivity
    | Transcript
    | Token
    | Speech
    | Timing
    | Heard
    | Notice
    | SettingsChanged
    | ToolUse
    | Alarm
    | Failure
    | TurnResult
)
