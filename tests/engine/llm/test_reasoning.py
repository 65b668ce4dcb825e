"""Reasoning split: <think> blocks are kept apart from the answer, however tokens fall."""

import pytest

from desktop.engine.llm.reasoning import ThinkSplitter, split_reasoning

REPLY = "<think>The user asks 2+2. That is 4.</think>\n\nTwo plus two is four."


def stream(text: str, cuts: list[int], start_in_thought: bool = False):
    splitter = ThinkSplitter(start_in_thought)
    pieces, last = [], 0
    for cut in cuts + [len(text)]:
        pieces += splitter.feed(text[last:cut])
        last = cut
    pieces += splitter.flush()
    reasoning = "".join(t for r, t in pieces if r)
    answer = "".join(t for r, t in pieces if not r)
    return reasoning, answer


@pytest.mark.parametrize("cut", range(1, len(REPLY)))
def test_split_holds_at_every_token_boundary(cut):
    reasoning, answer = stream(REPLY, [cut])
    assert reasoning == "The user asks 2+2. That is 4."
    assert answer.strip() == "Two plus two is four."


def test_character_by_character():
    reasoning, answer = stream(REPLY, list(range(1, len(REPLY))))
    assert "<" not in answer and "think" not in answer
    assert reasoning.startswith("The user")


def test_template_that_opens_the_thought_in_the_prompt():
    # DeepSeek-R1 distills: the prompt ends with "<think>", output starts inside it.
    assert split_reasoning("I should greet.</think>Hello!", start_in_thought=True) == (
        "I should greet.",
        "Hello!",
    )


def test_plain_reply_is_all_answer():
    assert split_reasoning("Just an answer, with a < sign.") == (
        "",
        "Just an answer, with a < sign.",
    )


def test_unclosed_thought_stays_reasoning():
    reasoning, answer = split_reasoning("<think>still thinking when cut off")
    assert reasoning == "still thinking when cut off" and answer == ""


def test_leading_whitespace_before_think():
    assert split_reasoning("\n <think>x</think>y") == ("x", "y")
