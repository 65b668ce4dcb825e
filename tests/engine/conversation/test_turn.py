"""Whole turns through the Assistant: events, timings, speech, cancel, reasoning."""

import threading
import time

import numpy as np

from desktop.engine.audio.samples import load_audio
from desktop.engine.conversation.turn import Assistant
from desktop.engine.events import Notice, Speech, State, Timing, Token, Transcript, TurnResult
from tests.conftest import to_16k, words


def collect(assistant, **kwargs):
    events = []
    result = assistant.run_turn(on_event=events.append, **kwargs)
    return result, events


def test_spoken_question_gives_transcript_reply_speech_and_timings(fresh, say):
    audio = load_audio(say("What is the capital of France?"))
    result, events = collect(fresh, audio=audio, speak=True)
    assert {"capital", "france"} <= set(words(result.transcript))
    assert result.reply
    speech = [e for e in events if isinstance(e, Speech)]
    assert speech, "the reply was not spoken"
    timings = result.timings
    assert 0 < timings["stt_ms"] <= timings["llm_first_token_ms"] <= timings["first_audio_ms"]
    assert timings["first_audio_ms"] <= timings["total_ms"]
    assert timings["tokens_per_s"] > 0
    kinds = [type(e) for e in events]
    assert kinds.index(Transcript) < kinds.index(Token) and kinds[-1] is TurnResult
    assert [e.name for e in events if isinstance(e, State)][0] == "transcribing"
    assert {e.stage for e in events if isinstance(e, Timing)} >= {"stt", "llm_first_token", "total"}


def test_spoken_reply_says_the_reply(fresh):
    result, events = collect(fresh, text="Say hello to my friend Anna.", speak=True)
    speech = [e for e in events if isinstance(e, Speech)]
    spoken_text = " ".join(e.text for e in speech)
    assert words(spoken_text) == words(result.reply)  # every clause spoken, in order
    audio = np.concatenate([e.audio for e in speech])
    heard = fresh.stt.transcribe_raw(to_16k(audio, speech[0].sample_rate))
    overlap = set(words(heard)) & set(words(result.reply))
    assert len(overlap) >= 0.6 * len(set(words(result.reply)))


def test_first_clause_is_spoken_before_the_reply_is_finished(fresh):
    result, events = collect(
        fresh, text="Tell me three facts about the sea, in three sentences.", speak=True
    )
    order = [type(e) for e in events]
    last_token = max(i for i, kind in enumerate(order) if kind is Token)
    first_speech = order.index(Speech)
    assert first_speech < last_token, "speech waited for the whole reply"


def test_conversation_continues_across_turns(fresh):
    fresh.run_turn(text="My name is Zebulon.")
    fresh.run_turn(text="What is my name?")
    assert [m["role"] for m in fresh.messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert "Zebulon" in fresh.messages[1]["content"]


def test_stop_mid_reply_keeps_the_partial_reply(fresh):
    cancel = threading.Event()
    tokens = []

    def on_event(event):
        if isinstance(event, Token):
            tokens.append(event.text)
            if len(tokens) == 4:
                cancel.set()

    result = fresh.run_turn(
        text="Write a long story about a dragon.", speak=True, cancel=cancel, on_event=on_event
    )
    assert result.cancelled
    assert len(tokens) == 4
    assert result.reply == "".join(tokens).strip()
    assert fresh.messages[-1] == {"role": "assistant", "content": result.reply}


def test_a_paced_reply_is_not_written_while_the_speaker_is_far_behind(fresh):
    events = []
    behind_until = []  # the speaker has 10 s queued for 0.5 s after the first clause is out

    def speaker_backlog():
        if not behind_until:
            behind_until.append(time.perf_counter() + 0.5)
        return 10.0 if time.perf_counter() < behind_until[0] else 0.0

    def on_event(event):
        events.append((time.perf_counter(), event))

    result = fresh.run_turn(
        text="Tell me three facts about the sea, in three sentences.",
        speak=True,
        on_event=on_event,
        speaker_backlog=speaker_backlog,
    )
    spoken = [e for _, e in events if isinstance(e, Speech)]
    assert len(spoken) >= 2 and not result.cancelled
    assert behind_until, "the speaker's backlog was never asked"
    first_speech = next(t for t, e in events if isinstance(e, Speech))
    assert first_speech < behind_until[0], "paced before the first clause was spoken"
    asked_at = behind_until[0] - 0.5  # the clause after the first was just handed over
    held = [
        e
        for t, e in events
        if isinstance(e, Token) and asked_at + 0.02 < t < behind_until[0] - 0.02
    ]
    assert held == [], "the LLM wrote on while the speaker was 10 s behind"
    assert words(" ".join(e.text for e in spoken)) == words(result.reply)  # nothing lost


def test_a_cancel_frees_a_paced_reply(fresh):
    cancel = threading.Event()
    threading.Timer(3.0, cancel.set).start()
    events = []
    started = time.perf_counter()
    result = fresh.run_turn(
        text="Tell me three facts about the sea, in three sentences.",
        speak=True,
        cancel=cancel,
        on_event=events.append,
        speaker_backlog=lambda: 60.0,  # the speaker never catches up: only the cancel frees it
    )
    assert result.cancelled
    # Held from the second clause on: nothing after it was written or voiced.
    assert len([e for e in events if isinstance(e, Speech)]) <= 2
    assert time.perf_counter() - started < 25, "the paced turn did not end on cancel"


class ThinkingBackend:
    """Stands in for a reasoning model (DeepSeek-R1 distill, QwQ): none is small enough
    to ship with the tests. It streams a fixed <think> reply the way llama.cpp would."""

    description = "thinking stand-in"
    prompt_opens_thought = False

    def fit_messages(self, messages):
        return messages, 0

    def stream_reply(self, messages, cancel=None):
        reply = "<think>The user greets me. I should greet back.</think>Hello, nice to meet you."
        for index in range(0, len(reply), 3):
            yield reply[index : index + 3]


def test_reasoning_is_kept_apart_and_never_spoken(assistant):
    thinker = Assistant(ThinkingBackend(), None, assistant.tts, "system")
    events = []
    result = thinker.run_turn(text="Hi!", speak=True, on_event=events.append)
    assert result.reasoning == "The user greets me. I should greet back."
    assert result.reply == "Hello, nice to meet you."
    spoken = " ".join(e.text for e in events if isinstance(e, Speech))
    assert "greet back" not in spoken and "Hello" in spoken
    assert thinker.messages[-1]["content"] == "Hello, nice to meet you."


def test_trimming_emits_a_notice(starter):
    from desktop.engine.llm.backend import SamplingOptions
    from desktop.engine.llm.llama import LlamaCppBackend

    llm = LlamaCppBackend(starter["llm"], context_size=256, sampling=SamplingOptions(max_tokens=40))
    small = Assistant(llm, None, None, "Be brief.")
    notices = []
    for n in range(8):
        small.run_turn(
            text=f"Fact number {n}: tell me something about rivers and mountains.",
            on_event=lambda e: notices.append(e) if isinstance(e, Notice) else None,
        )
    assert notices and "oldest" in notices[0].message
    assert small.messages[0]["role"] == "system"
