"""Does the chat model tell a finished request from one cut off mid-sentence?

    python bench/turn_end.py [--json]

The text half of turn-taking (desktop/engine/conversation/turn_end.py): each sentence
is scored whole and cut before a word past its middle, as whisper would hand
over the words of a user who paused to think there (with the full stop
whisper puts on both). Two sets: the benchmarks' built-in questions (the
thresholds were chosen on them) and everyday requests written for this check
only, which nothing was tuned on. Figures per set: how the whole sentences
and the cut ones are judged (complete: end the turn after a short pause;
unknown: the usual wait; incomplete: a longer wait), and the time of one
score on one thread.

What matters for the user: a cut sentence judged complete is a user cut off
(with a short pause); a whole one judged incomplete waits longer for its answer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import QUESTIONS  # noqa: E402
from desktop.config import Settings  # noqa: E402
from desktop.engine.conversation.turn_end import Ending, TurnEndScorer, ending_of  # noqa: E402
from desktop.engine.llm.llama import LlamaCppBackend  # noqa: E402
from desktop.library import registry  # noqa: E402

# Nothing was tuned on these.
EVERYDAY = [
    "Set a timer for ten minutes.",
    "What time is it in Tokyo right now?",
    "Remind me to call my sister tomorrow morning.",
    "How long should I boil an egg?",
    "Can you read that again more slowly?",
    "What is the weather going to be like this weekend?",
    "Who painted the Mona Lisa?",
    "How many ounces are in a pound?",
    "Tell me a short story about a dragon.",
    "What does the word serendipity mean?",
    "How do you say thank you in Spanish?",
    "What is the best way to clean a cast iron pan?",
    "Can you help me write a birthday message for my friend?",
    "Why do cats purr when they are happy?",
    "What are some good exercises for my lower back?",
    "How far away is the moon from the earth?",
    "Which planet is the largest in our solar system?",
    "What should I pack for a weekend trip to the mountains?",
    "Explain how a rainbow is formed.",
    "Is it going to rain later today?",
    "What is the difference between a virus and a bacterium?",
    "Give me a recipe for banana bread.",
    "How can I stop my glasses from fogging up?",
    "Suggest a good book for a long train ride.",
    "When did the first person walk on the moon?",
]


def cut_in_the_middle(sentence: str) -> str:
    """The words before one past the middle, with the full stop whisper would add."""
    words = sentence.rstrip(".?!").split()
    return " ".join(words[: len(words) // 2 + 1]) + "."


def judge(scorer: TurnEndScorer, sentences: list[str]) -> dict:
    tallies = {"whole": {e.value: 0 for e in Ending}, "cut": {e.value: 0 for e in Ending}}
    examples: dict[str, list[tuple[str, float]]] = {"whole": [], "cut": []}
    times = []
    for sentence in sentences:
        for kind, text in (("whole", sentence), ("cut", cut_in_the_middle(sentence))):
            probability = scorer.probability(text)
            times.append(scorer.last_ms)
            tallies[kind][ending_of(probability).value] += 1
            examples[kind].append((text, round(probability or 0.0, 4)))
    return {
        "sentences": len(sentences),
        **tallies,
        "ms_p50": statistics.median(times),
        "scores": examples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--scores", action="store_true", help="print every sentence's score")
    args = parser.parse_args()
    settings = Settings()
    backend = LlamaCppBackend(registry.resolve("llm", settings).path, threads=1)
    scorer = TurnEndScorer(backend, settings.system_prompt, threads=1)
    scorer.probability("Warm up.")
    result = {
        "model": backend.model_path.name,
        "built_in": judge(scorer, QUESTIONS),
        "everyday": judge(scorer, EVERYDAY),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"turn ends judged by {result['model']}: complete / unknown / incomplete")
    for name in ("built_in", "everyday"):
        r = result[name]
        for kind in ("whole", "cut"):
            t = r[kind]
            print(
                f"  {name:<9} {kind:<6} {t['complete']:>2} / {t['unknown']:>2} / "
                f"{t['incomplete']:>2}   of {r['sentences']}"
            )
        if args.scores:
            for kind in ("whole", "cut"):
                for text, p in r["scores"][kind]:
                    print(f"      {p:.4f}  {text}")
    print(
        f"one score: {statistics.median([result[n]['ms_p50'] for n in ('built_in', 'everyday')]):.0f} ms (p50, one thread)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
