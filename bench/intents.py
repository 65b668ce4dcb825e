"""Local intents: how fast they answer, how well they match, how on time timers ring.

    python bench/intents.py [--json] [--timers 20]

On the starter models and the real voice, in one run:

1. **Latency.** From the transcript to the first synthesized audio, for intent
   answers and for chat-model answers (the same turn code, typed). Then spoken,
   through the live voice loop in a room made of files (FileAudio: real time, real
   models; the sound card is the only stand-in): from the endpoint to the first
   audio (Parley's own figure) and from the end of the voice to the first sound
   in the room (the Heard event), for intent questions and chat questions.
2. **Matching.** Precision and recall on phrasings made at run time from the
   wordings below (written for this benchmark, not copied from the sentence
   templates), with random numbers, names and clock times, and the false intents on
   near-misses (requests close in words that are not intents). The peer is hassil
   called directly on the same sentences: its time per match beside Parley's.
3. **Timers while Parley talks.** ``--timers`` timers come due one after another
   while Parley reads a long reply in the voice loop; each rings by stopping the
   reply. Lateness: from the due second to the chime's first sample in the room.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import QUESTIONS, VOICE, speak  # noqa: E402
from bench.turn import percentile  # noqa: E402
from desktop.config import Settings  # noqa: E402
from desktop.engine.audio.file_room import FileAudio  # noqa: E402
from desktop.engine.audio.samples import STT_RATE, load_audio  # noqa: E402
from desktop.engine.conversation.voice_loop import VoiceLoop  # noqa: E402
from desktop.engine.events import Alarm, Heard, TurnResult  # noqa: E402
from desktop.engine.loading import load_assistant  # noqa: E402

NAMES = ["pasta", "tea", "egg", "laundry", "oven", "bread"]
THINGS = ["take my pills", "call Anna", "water the plants", "feed the cat", "check the oven"]
NUMBER_WORDS = ["one", "two", "three", "five", "ten", "fifteen", "twenty", "forty-five"]

# Wordings a user might say, per intent: {n} a number, {unit} a time unit, {name} a
# timer's name, {clock} a clock time, {thing} something to be reminded of.
WORDINGS = {
    "HassGetCurrentTime": [
        "What time is it?",
        "What's the time?",
        "Tell me the time.",
        "What time is it right now?",
        "Okay, what's the time?",
        "Could you tell me the time?",
    ],
    "HassGetCurrentDate": [
        "What's the date?",
        "What is today's date?",
        "What's the date today?",
        "Tell me the date.",
    ],
    "HassStartTimer": [
        "Set a timer for {n} {unit}.",
        "Start a timer for {n} {unit}.",
        "Set a {n} {unit1} timer.",
        "Timer for {n} {unit}.",
        "Please set a timer for {n} {unit}.",
        "Set a {name} timer for {n} {unit}.",
        "Can you set a timer for {n} {unit}?",
        "Set a timer for {n} {unit} called {name}.",
        # Said by people, and not in any template: counted as misses if not matched.
        "Put a timer on for {n} {unit}.",
        "Count down {n} {unit}.",
        "Give me a {n} {unit1} timer.",
    ],
    "HassCancelTimer": ["Cancel the timer.", "Cancel my {name} timer.", "Stop the timer."],
    "HassTimerStatus": [
        "How long is left on my timer?",
        "How much time is left on the timer?",
        "How much time is left on the {name} timer?",
    ],
    "ParleyRemind": [
        "Remind me at {clock} to {thing}.",
        "Remind me to {thing} at {clock}.",
        "At {clock} remind me to {thing}.",
        "Set a reminder for {clock} to {thing}.",
    ],
    "ParleyRepeat": [
        "Say that again.",
        "Can you repeat that?",
        "What did you say?",
        "Come again?",
        "Sorry, I missed that.",
    ],
    "ParleyVoiceSlower": ["Speak slower.", "Slow down please.", "Could you talk more slowly?"],
    "ParleyVoiceLouder": ["Speak up.", "Louder please.", "I can't hear you."],
    "ParleyStop": ["Stop.", "Stop talking.", "Be quiet."],
}

# Close in words to an intent, and not one: the chat model's.
NEAR_MISSES = [
    "Set the table for {n}.",
    "What time does the {place} open?",
    "What time is the {event}?",
    "How long is the {thing2}?",
    "Stop the {thing2}.",
    "Remind me what a {thing2} is.",
    "Tell me about {name} timers.",
    "How much time is left in the {event}?",
    "Set a goal for {n} {unit}.",
    "Speak to me about {place}s.",
    "Say something about {place}s.",
    "What was the date of the {event}?",
    "Louder music makes the {event} fun.",
    "Cancel my {event} subscription.",
    "Time flies at the {event}.",
    "Remind me to {thing} at some point.",
    "Can you time how long it takes to {thing}?",
]
PLACES = ["bakery", "museum", "library", "pharmacy", "post office"]
EVENTS = ["meeting", "match", "concert", "film", "game"]
THINGS2 = ["river Nile", "war", "film", "bus", "song"]


def fill(wording: str, rng: random.Random) -> str:
    n = rng.choice([str(rng.randint(2, 45)), rng.choice(NUMBER_WORDS)])
    unit = rng.choice(["seconds", "minutes", "hours" if rng.random() < 0.2 else "minutes"])
    hour = rng.randint(1, 12)
    clock = rng.choice(
        [str(hour), f"{hour}:{rng.choice(['15', '30', '45'])}", f"{hour} pm", f"half past {hour}"]
    )
    return wording.format(
        n=n,
        unit=unit,
        unit1=unit.rstrip("s"),
        name=rng.choice(NAMES),
        clock=clock,
        thing=rng.choice(THINGS),
        place=rng.choice(PLACES),
        event=rng.choice(EVENTS),
        thing2=rng.choice(THINGS2),
    )


def matching(assistant, rng: random.Random, per_wording: int = 4) -> dict:
    """Precision, recall and near-miss false intents; hassil's own time beside Parley's."""
    from hassil import recognize

    matcher = assistant.skills.matcher
    asked = [
        (intent, fill(w, rng))
        for intent, ws in WORDINGS.items()
        for w in ws
        for _ in range(per_wording)
    ]
    near = [fill(w, rng) for w in NEAR_MISSES for _ in range(per_wording)]
    right = wrong = missed = 0
    misses: list[str] = []
    for intent, text in asked:
        match = matcher.match(text)
        if match is None:
            missed += 1
            misses.append(text)
        elif match.name == intent:
            right += 1
        else:
            wrong += 1
            misses.append(f"{text} -> {match.name}")
    false = [text for text in near if matcher.match(text) is not None]
    # Near-misses the skills hand on anyway (a reminder without a clock time).
    false_answered = [t for t in false if assistant.skills.answer(t, act_now=False) is not None]
    texts = [t for _, t in asked] + near
    started = time.perf_counter()
    for text in texts:
        matcher.match(text)
    parley_us = (time.perf_counter() - started) / len(texts) * 1e6
    started = time.perf_counter()
    for text in texts:
        recognize(text, matcher.intents, skip_words=matcher.skip_words)
    hassil_us = (time.perf_counter() - started) / len(texts) * 1e6
    return {
        "phrasings": len(asked),
        "near_misses": len(near),
        "precision": round(right / max(1, right + wrong), 3),
        "recall": round(right / len(asked), 3),
        "false_intents_on_near_misses": len(false_answered),
        "near_misses_matched_then_handed_on": len(false) - len(false_answered),
        "not_matched_examples": misses[:8],
        "false_intent_examples": false_answered[:8],
        "match_us": round(parley_us, 1),
        "hassil_direct_us": round(hassil_us, 1),
    }


def typed_latency(assistant, rng: random.Random, rounds: int) -> dict:
    """Transcript in hand to the first synthesized audio: intents vs the chat model."""
    intent_texts = [
        "What time is it?",
        "What's the date today?",
        "Set a timer for ten minutes.",
        "How long is left on my timer?",
        "Cancel the timer.",
        "Say that again.",
    ]
    figures: dict[str, list[float]] = {"intent": [], "llm": []}
    for i in range(rounds):
        for kind, text in (
            ("intent", intent_texts[i % len(intent_texts)]),
            ("llm", QUESTIONS[i % len(QUESTIONS)]),
        ):
            assistant.reset()
            result = assistant.run_turn(text=text, speak=True)
            if (result.intent != "") != (kind == "intent"):
                raise SystemExit(f"intents: {text!r} was answered by {result.intent or 'the LLM'}")
            figures[kind].append(result.timings["first_audio_ms"])
    for timer in assistant.skills.store.pending():
        assistant.skills.store.cancel(timer.id)
    return {kind: _stats(values) for kind, values in figures.items()}


def _stats(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
    }


class Room:
    """A voice loop over FileAudio: real time, real models, every event kept."""

    def __init__(self, assistant, microphone: np.ndarray, tail_s: float = 4.0) -> None:
        self.events: list[object] = []
        self.room: FileAudio | None = None

        def factory(on_block, on_failure):
            self.room = FileAudio(on_block, on_failure, microphone, tail_s=tail_s)
            return self.room

        assistant.reset()
        self.loop = VoiceLoop(assistant, factory, self.events.append, echo_cancellation=False)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def spoken_latency(assistant, folder: Path, count: int) -> dict:
    """Questions spoken into the live loop: endpoint to first audio, voice to first sound."""
    intent_texts = [
        "What time is it?",
        "What's the date today?",
        "Start a timer for ten minutes.",
        "How long is left on my timer?",
        "Cancel the timer.",
        "What time is it now?",
    ]
    out = {}
    for kind, texts in (("intent", intent_texts[:count]), ("llm", QUESTIONS[:count])):
        clips = []
        for i, text in enumerate(texts):
            clip = load_audio(speak(text, folder / f"{kind}{i}.wav", VOICE))
            clips += [clip, np.zeros(int(6 * STT_RATE), np.float32)]
        room = Room(assistant, np.concatenate([np.zeros(STT_RATE, np.float32), *clips]))
        room.loop.start()
        room.room.finished.wait(len(texts) * 12 + 30)
        room.loop.stop()
        results = room.of(TurnResult)
        intents = [r.intent for r in results]
        # An intent question whisper misheard went to the chat model: not counted as one.
        counted = [r for r in results if (r.intent != "") == (kind == "intent")]
        first = [r.timings["first_audio_ms"] for r in counted]
        first = [ms for ms in first if ms is not None]
        heard = [e.voice_to_voice_ms for e in room.of(Heard)]
        out[kind] = {
            "turns": len(results),
            "answered_by_intent": sum(1 for i in intents if i),
            "endpoint_to_first_audio": _stats(first) if first else None,
            "voice_to_first_sound": _stats(heard) if heard else None,  # every turn
            "transcripts": [r.transcript for r in results],
        }
    for timer in assistant.skills.store.pending():
        assistant.skills.store.cancel(timer.id)
    return out


def timers_while_talking(assistant, count: int) -> dict:
    """``count`` timers, each due while Parley reads a long reply; how late each chimes."""
    room = Room(assistant, np.zeros(int((count * 4 + 20) * STT_RATE), np.float32))
    loop, store = room.loop, assistant.skills.store
    loop.start()
    late: list[float] = []
    spoke_over = 0
    try:
        for _ in range(count):
            loop.ask("Tell me a long story about a lighthouse keeper, in ten sentences.")
            deadline = time.monotonic() + 60
            while not room.room.playing and time.monotonic() < deadline:
                time.sleep(0.02)
            spoke_over += room.room.playing
            rung = len(room.of(Alarm))
            store.add("timer", 1.0 + random.random())
            for listener in assistant.skills.timer_listeners:
                listener()
            deadline = time.monotonic() + 20
            while len(room.of(Alarm)) == rung and time.monotonic() < deadline:
                time.sleep(0.02)
            while room.room.playing and time.monotonic() < deadline:
                time.sleep(0.05)
        late = [a.late_ms for a in room.of(Alarm)]
    finally:
        room.room.finished.set()
        loop.stop()
        for timer in store.pending():
            store.cancel(timer.id)
    return {
        "timers": count,
        "rang": len(late),
        "rang_while_parley_talked": spoke_over,
        "late_ms": _stats(late) if late else None,
        "late_ms_max": round(max(late), 1) if late else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--timers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=12, help="typed turns of each kind")
    parser.add_argument("--spoken", type=int, default=6, help="spoken questions of each kind")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="parley-intents-") as scratch:
        import os

        os.environ["PARLEY_HOME"] = scratch  # a timers file of its own
        assistant = load_assistant(Settings(temperature=0.0))
        result = {
            "matching": matching(assistant, rng),
            "typed_first_audio_ms": typed_latency(assistant, rng, args.rounds),
            "spoken": spoken_latency(assistant, Path(scratch), args.spoken),
            "timers_while_talking": timers_while_talking(assistant, args.timers),
        }
    if args.json:
        print(json.dumps(result))
        return 0
    m = result["matching"]
    print(
        f"matching: precision {m['precision']}, recall {m['recall']} on {m['phrasings']} "
        f"phrasings (of wordings written for the benchmark); false intents on "
        f"{m['near_misses']} near-misses: "
        f"{m['false_intents_on_near_misses']}"
    )
    print(
        f"  per match: Parley {m['match_us']} us, hassil called directly {m['hassil_direct_us']} us"
    )
    for text in m["not_matched_examples"]:
        print(f"  not matched: {text}")
    for text in m["false_intent_examples"]:
        print(f"  false intent: {text}")
    t = result["typed_first_audio_ms"]
    print(
        f"typed, transcript to first audio: intents p50 {t['intent']['p50']} "
        f"p95 {t['intent']['p95']} ms; chat model p50 {t['llm']['p50']} p95 {t['llm']['p95']} ms"
    )
    for kind, s in result["spoken"].items():
        first, heard = s["endpoint_to_first_audio"], s["voice_to_first_sound"]
        print(
            f"spoken ({kind}, {s['turns']} turns, {s['answered_by_intent']} by intents): "
            f"endpoint to first audio p50 {first and first['p50']} p95 {first and first['p95']}"
            f" ms; voice to first sound p50 {heard and heard['p50']} p95 "
            f"{heard and heard['p95']} ms"
        )
        print(f"  heard as: {' | '.join(s['transcripts'])}")
    w = result["timers_while_talking"]
    lat = w["late_ms"] or {}
    print(
        f"timers while Parley talks: {w['rang']} of {w['timers']} rang "
        f"({w['rang_while_parley_talked']} over a reply); chime late p50 {lat.get('p50')} "
        f"p95 {lat.get('p95')} max {w['late_ms_max']} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
