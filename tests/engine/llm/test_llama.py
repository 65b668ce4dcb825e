"""The llama.cpp backend with the real SmolLM2 starter model."""

import threading

import pytest

from desktop.engine.llm.backend import SamplingOptions
from desktop.engine.llm.llama import TRIM_TO, LlamaCppBackend
from desktop.errors import Cancelled, ModelError, ParleyError


@pytest.fixture(scope="module")
def small_context(starter):
    """A second instance with a tiny context, to exercise trimming."""
    return LlamaCppBackend(
        starter["llm"], context_size=256, threads=2, sampling=SamplingOptions(max_tokens=48)
    )


def conversation(exchanges: int, words_each: int = 20) -> list[dict]:
    messages = [{"role": "system", "content": "You are brief."}]
    for n in range(exchanges):
        messages.append(
            {"role": "user", "content": f"Question {n}: " + "tell me more " * words_each}
        )
        messages.append(
            {"role": "assistant", "content": f"Answer {n}: " + "here is more " * words_each}
        )
    messages.append({"role": "user", "content": "And finally, what is two plus two?"})
    return messages


def test_reply_streams_in_many_pieces(assistant):
    pieces = list(
        assistant.llm.stream_reply(
            [{"role": "user", "content": "Name three colours of the rainbow."}]
        )
    )
    assert len(pieces) > 3
    assert "".join(pieces).strip()


def test_prompt_is_rendered_with_the_gguf_chat_template(assistant):
    tokens = assistant.llm.prompt_tokens(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi there"}]
    )
    text = assistant.llm.llama.detokenize(tokens, special=True).decode()
    # SmolLM2's own template is ChatML; the generation prompt opens the assistant turn.
    assert (
        text
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    )


def test_cancel_stops_within_one_token(assistant):
    cancel = threading.Event()
    received = []
    stream = assistant.llm.stream_reply(
        [{"role": "user", "content": "Write a long story about a dragon."}], cancel
    )
    with pytest.raises(Cancelled):
        for piece in stream:
            received.append(piece)
            if len(received) == 3:
                cancel.set()
    assert len(received) == 3


def test_old_turns_are_trimmed_and_the_system_prompt_kept(small_context):
    messages = conversation(exchanges=6)
    fitted, dropped = small_context.fit_messages(messages)
    assert dropped >= 2
    assert fitted[0] == messages[0]
    assert fitted[-1] == messages[-1]
    assert fitted[1]["role"] == "user"  # whole exchanges go, never half of one
    assert len(small_context.prompt_tokens(fitted)) <= 256 - 48


def test_a_full_context_is_trimmed_with_room_to_spare(small_context):
    """The next turn after a trim only appends: the prompt read before is the start of
    the new one, so llama.cpp reuses its KV cache instead of reading it all again."""
    fitted, dropped = small_context.fit_messages(conversation(exchanges=6))
    assert dropped
    budget = 256 - 48
    assert len(small_context.prompt_tokens(fitted)) <= budget * TRIM_TO
    before = small_context.prompt_tokens(fitted)
    following = fitted + [
        {"role": "assistant", "content": "Four."},
        {"role": "user", "content": "And three plus three?"},
    ]
    refitted, dropped_again = small_context.fit_messages(following)
    assert dropped_again == 0
    after = small_context.prompt_tokens(refitted)
    # The generation prompt of the old turn is where the reply went; the rest is shared.
    shared = len(before) - 3
    assert after[:shared] == before[:shared]


def test_trimmed_conversation_still_answers(small_context):
    fitted, _ = small_context.fit_messages(conversation(exchanges=6))
    assert "".join(small_context.stream_reply(fitted)).strip()


def test_a_single_message_too_long_for_the_context_is_a_clear_error(small_context):
    messages = [{"role": "user", "content": "word " * 400}]
    with pytest.raises(ParleyError, match="too long"):
        small_context.fit_messages(messages)


def test_base_model_without_chat_template_is_refused(gemma_base):
    with pytest.raises(ModelError, match="no chat template"):
        LlamaCppBackend(gemma_base)


def test_garbage_file_is_refused_before_llama_cpp_sees_it(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + bytes(range(256)) * 10)
    with pytest.raises(ModelError):
        LlamaCppBackend(bad)
