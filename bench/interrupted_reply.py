"""CPU spent on a spoken reply that is stopped early, with and without pacing.

Why: spoken replies are often cut short (barge-in, Stop). A live turn holds
the LLM while PACE_AHEAD_S of the reply is yet to be heard (on the speaker, or
written and not yet synthesized: turn.py's hold_while_ahead), so a reply
stopped early costs what was heard plus a few seconds, not everything the LLM
could write and piper voice meanwhile. This
asks for long replies through the live voice loop (a room made of files in
place of the sound card, as in tests/engine/conversation/test_voice_loop.py), presses Stop
a few seconds after Parley starts talking, and measures the process's CPU
time and the words written, paced and unpaced in alternation.

    python bench/interrupted_reply.py [--rounds N] [--stop-after S] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from desktop.config import Settings  # noqa: E402
from desktop.engine.audio.file_room import FileAudio  # noqa: E402
from desktop.engine.audio.samples import STT_RATE  # noqa: E402
from desktop.engine.conversation import (
    turn,  # noqa: E402
    voice_loop,  # noqa: E402
)
from desktop.engine.events import State, TurnResult  # noqa: E402
from desktop.engine.loading import load_assistant  # noqa: E402

PROMPT = "Tell me a long story about a dragon who learns to fly."
PACED_S = turn.PACE_AHEAD_S


def one_reply(assistant, stop_after_s: float) -> dict:
    """Ask, let Parley talk for ``stop_after_s``, press Stop; CPU and words until the turn ends."""
    events: list = []
    speaking = threading.Event()
    answered = threading.Event()

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, State) and event.name == "speaking":
            speaking.set()
        elif isinstance(event, TurnResult):
            answered.set()

    microphone = np.zeros(int((stop_after_s + 60) * STT_RATE), np.float32)  # a quiet room
    loop = voice_loop.VoiceLoop(
        assistant,
        lambda on_block, on_failure: FileAudio(on_block, on_failure, microphone, tail_s=0),
        on_event,
        hands_free=False,
        earcons=False,
    )
    assistant.reset()
    loop.start()
    try:
        cpu = time.process_time()
        loop.ask(PROMPT)
        if not speaking.wait(30):
            raise SystemExit("bench: Parley did not start talking within 30 s")
        time.sleep(stop_after_s)
        loop.stop_speaking()
        stopped = time.perf_counter()
        if not answered.wait(60):
            raise SystemExit("bench: the stopped turn did not end within 60 s")
        result = next(e for e in events if isinstance(e, TurnResult))
        return {
            "cpu_ms": round((time.process_time() - cpu) * 1000),
            "words": len(result.reply.split()),
            "turn_ended_ms_after_stop": round((time.perf_counter() - stopped) * 1000),
        }
    finally:
        loop.stop()


def summary(rounds: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]} | {
        "n": len(rounds)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stop-after", type=float, default=2.0, help="seconds of Parley talking")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    assistant = load_assistant(Settings(temperature=0.0), live_audio=True)
    runs: dict[str, list[dict]] = {"paced": [], "unpaced": []}
    for _ in range(max(1, args.rounds)):
        for mode, ahead_s in (("paced", PACED_S), ("unpaced", float("inf"))):
            turn.PACE_AHEAD_S = ahead_s
            runs[mode].append(one_reply(assistant, args.stop_after))
    turn.PACE_AHEAD_S = PACED_S
    report = {
        "pace_ahead_s": PACED_S,
        "stop_after_s": args.stop_after,
        **{mode: summary(rounds) for mode, rounds in runs.items()},
    }
    report["cpu_saved_pct"] = round(
        100 * (1 - report["paced"]["cpu_ms"] / report["unpaced"]["cpu_ms"]), 1
    )
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"Stop pressed {args.stop_after:g} s into a long spoken reply, {args.rounds} rounds:")
    for mode in runs:
        r = report[mode]
        print(
            f"{mode:8s} CPU {r['cpu_ms']:.0f} ms, {r['words']:.0f} words written, "
            f"turn over {r['turn_ended_ms_after_stop']:.0f} ms after Stop (medians)"
        )
    print(f"pacing ({PACED_S:g} s ahead) saved {report['cpu_saved_pct']} % of the CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
