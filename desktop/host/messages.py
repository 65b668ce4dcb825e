"""What crosses the pipe between the window and the engine process.

Commands go to the engine; the engine answers with the events of
``desktop.engine.events`` plus the few below. Audio never crosses: the
engine plays its own speech and sends only the text that was spoken.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# -- commands: window -> engine ----------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """A typed question."""

    text: str


@dataclass(frozen=True)
class Press:
    """Push-to-talk pressed: listen."""


@dataclass(frozen=True)
class Release:
    """Push-to-talk released: what was said is the question."""


@dataclass(frozen=True)
class StopReply:
    """The Stop button: end the reply and silence the speaker."""


@dataclass(frozen=True)
class SetHandsFree:
    on: bool


@dataclass(frozen=True)
class Tune:
    """Settings the engine applies without reloading a model."""

    temperature: float
    max_tokens: int
    system_prompt: str


@dataclass(frozen=True)
class NewConversation:
    """Forget the conversation so far."""


@dataclass(frozen=True)
class Resume:
    """Carry on a saved conversation: these exchanges become the conversation so far."""

    messages: list[dict[str, str]]


@dataclass(frozen=True)
class Shutdown:
    """Close the devices, free the models and exit."""


@dataclass(frozen=True)
class Approval:
    """The user's answer to an ApprovalNeeded: "yes", "no" or "always"."""

    request_id: int
    answer: str


Command = (
    Ask
    | Press
    | Release
    | StopReply
    | SetHandsFree
    | Tune
    | NewConversation
    | Resume
    | Shutdown
    | Approval
)

# -- events: engine -> window (besides desktop.engine.events) ------------------------------


@dataclass(frozen=True)
class Loading:
    """Progress while the models load."""

    message: str


@dataclass(frozen=True)
class Ready:
    """The models are loaded; ``voice`` says whether the microphone loop runs."""

    models: dict[str, str | None]
    voice: bool
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ApprovalNeeded:
    """The chat model wants to run a tool of an MCP server: ask the user (Approval)."""

    request_id: int
    server: str
    tool: str
    arguments: dict


@dataclass(frozen=True)
class Spoken:
    """A clause of the reply went to the speaker (the audio itself stays in the engine)."""

    text: str


@dataclass(frozen=True)
class LoadFailed:
    """The engine could not load its models; it waits for other settings."""

    message: str
    hint: str = ""


@dataclass(frozen=True)
class EngineRestarted:
    """The engine process died and was started again; the conversation was kept."""

    reason: str


@dataclass(frozen=True)
class EngineGaveUp:
    """The engine died again and again; the host stopped restarting it."""

    reason: str
