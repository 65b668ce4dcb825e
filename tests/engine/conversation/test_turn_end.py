"""The chat model judges whether a user's words end their turn (the real starter model)."""

import threading

import pytest

from desktop.engine.audio.endpoint import Ending
from desktop.engine.conversation.turn_end import (
    TurnEndScorer,
    ending_of,
    load_turn_end,
    punctuation_ending,
    strip_end,
)


@pytest.fixture(scope="module")
def scorer(assistant) -> TurnEndScorer:
    assert assistant.turn_end is not None, "the starter model should be quick enough to score"
    return assistant.turn_end


# Whisper's transcripts at a pause: it punctuates a cut sentence as readily as a whole one.
WHOLE = ["What is the capital of France?", "Set a timer for ten minutes.", "Who wrote Hamlet?"]
CUT = ["What is the capital of.", "Set a timer for.", "How far is it from London to."]


def test_whole_requests_are_complete_and_cut_ones_are_not(scorer):
    for text in WHOLE:
        assert scorer.ending(text) is Ending.COMPLETE, (text, scorer.probability(text))
    for text in CUT:
        assert scorer.ending(text) is Ending.INCOMPLETE, (text, scorer.probability(text))


def test_the_score_ignores_whisper_s_closing_punctuation(scorer):
    """Whisper's full stop must not be what decides: with or without it, the same score."""
    assert scorer.probability("What is the capital.") == pytest.approx(
        scorer.probability("What is the capital"), abs=1e-6
    )
    assert strip_end(" Well... ") == "Well"


def test_no_words_is_no_verdict(scorer):
    assert scorer.probability("") is None
    assert scorer.probability(" ... ") is None
    assert scorer.ending("") is Ending.UNKNOWN


def test_scoring_leaves_the_conversation_s_cache_alone(assistant, scorer):
    """The scorer has a context of its own: the chat model's KV cache and its answer
    are the same whether or not a pause was scored meanwhile."""
    messages = [
        {"role": "system", "content": assistant.system_prompt},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    first = "".join(assistant.llm.stream_reply(messages))
    cached = assistant.llm.llama.n_tokens
    for text in WHOLE + CUT:
        scorer.probability(text)
    assert assistant.llm.llama.n_tokens == cached
    assert "".join(assistant.llm.stream_reply(messages)) == first


def test_devices_may_score_at_once(scorer):
    """The hub's devices share one scorer: concurrent calls give each its own answer."""
    expected = {text: scorer.probability(text) for text in WHOLE + CUT}
    results: dict[str, list[float]] = {text: [] for text in expected}

    def score(text: str) -> None:
        for _ in range(3):
            results[text].append(scorer.probability(text))

    threads = [threading.Thread(target=score, args=(text,)) for text in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for text, got in results.items():
        assert got == pytest.approx([expected[text]] * 3, abs=1e-5), text


def test_without_a_local_model_punctuation_decides_as_before():
    class Remote:  # a backend with no llama.cpp model in this process
        pass

    assert load_turn_end(Remote(), "You are helpful.") is None
    assert punctuation_ending("What is the capital.") is Ending.COMPLETE
    assert punctuation_ending("What is the capital") is Ending.UNKNOWN


def test_thresholds_make_three_verdicts():
    assert ending_of(None) is Ending.UNKNOWN
    assert ending_of(0.5) is Ending.COMPLETE
    assert ending_of(0.01) is Ending.UNKNOWN
    assert ending_of(0.0001) is Ending.INCOMPLETE
