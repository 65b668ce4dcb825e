"""Which intent a transcript asks for, if any: hassil over Home Assistant's sentences.

Home Assistant's own English sentences (the ``home-assistant-intents`` package)
cover the time, the date and timers; ``resources/intents/en.yaml`` adds what they
do not (reminders, "say that again", the voice's pace and loudness, "stop").
Only whole-sentence matches count, so "set the table" is not a timer and "what
time is the meeting" still goes to the chat model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from desktop import paths
from desktop.errors import ModelError

# Home Assistant intents Parley answers itself. Their sentences that need a smart
# home (areas, a command run when a timer ends) are left out.
HOME_ASSISTANT_INTENTS = (
    "HassGetCurrentTime",
    "HassGetCurrentDate",
    "HassStartTimer",
    "HassCancelTimer",
    "HassCancelAllTimers",
    "HassTimerStatus",
    "HassNevermind",
)
_NEEDS_A_SMART_HOME = ("area", "command", "floor")

# Said before the request itself by many people, and kept by whisper.
_OPENERS = re.compile(
    r"^(?:(?:ok(?:ay)?|hey|hi|um+|uh+|er+|so|and|well|now|parley|alright|right)[\s,.!]+)+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class IntentMatch:
    """An intent and its slots: each slot's value (a number, or the words) and the words."""

    name: str
    values: dict[str, object] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=dict)


def own_sentences_file(language: str = "en") -> Path:
    return paths.resources_dir() / "intents" / f"{language}.yaml"


class IntentMatcher:
    """Loaded sentence templates; ``match`` takes about a millisecond."""

    def __init__(self, language: str = "en") -> None:
        import home_assistant_intents
        import yaml
        from hassil import Intents

        home = home_assistant_intents.get_intents(language)
        if home is None:
            raise ModelError(f"Home Assistant has no intent sentences for {language!r}")
        try:
            own = yaml.safe_load(own_sentences_file(language).read_text("utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ModelError(f"cannot read Parley's intent sentences: {exc}") from exc
        intents = {
            name: {"data": [d for d in home["intents"][name]["data"] if _plain(d)]}
            for name in HOME_ASSISTANT_INTENTS
        }
        for name, own_intent in own["intents"].items():  # added to, or new
            intents.setdefault(name, {"data": []})["data"].extend(own_intent["data"])
        self.skip_words = home.get("skip_words", [])
        self.intents = Intents.from_dict(
            {
                "language": language,
                "intents": intents,
                "lists": {**home["lists"], **own.get("lists", {})},
                "expansion_rules": {**home["expansion_rules"], **own.get("expansion_rules", {})},
            }
        )
        self.match("what time is it")  # warm: the first match builds hassil's caches

    def match(self, text: str) -> IntentMatch | None:
        """The intent the whole of ``text`` asks for, or None."""
        from hassil import recognize

        text = _OPENERS.sub("", text.strip()).strip()
        if not text:
            return None
        result = recognize(text, self.intents, skip_words=self.skip_words)
        if result is None or result.intent is None:
            return None
        return IntentMatch(
            name=result.intent.name,
            values={name: entity.value for name, entity in result.entities.items()},
            words={name: str(entity.text).strip() for name, entity in result.entities.items()},
        )


def _plain(data: dict) -> bool:
    combination = str(data.get("metadata", {}).get("slot_combination", ""))
    return not any(word in combination for word in _NEEDS_A_SMART_HOME)
