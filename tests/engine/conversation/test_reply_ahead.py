"""The gate that holds a reply begun before the endpoint."""

import time

from desktop.engine.conversation.reply_ahead import ReplyAhead, ReplyAheadSlot
from desktop.engine.events import Notice, Timing, Token, TurnResult


def result(**timings) -> TurnResult:
    return TurnResult("q", "a", "", timings, {"llm": "x"})


def test_nothing_gets_through_before_the_endpoint():
    ahead = ReplyAhead("What is the capital of France?", began_at=0.0)
    delivered = []
    ahead.pass_on(Token("Paris"), delivered.append)
    ahead.pass_on(Notice("n"), delivered.append)
    assert delivered == []
    assert ahead.open(time.perf_counter())
    assert delivered == [Token("Paris"), Notice("n")]  # in order
    ahead.pass_on(Token("."), delivered.append)  # after the endpoint: straight through
    assert delivered[-1] == Token(".")


def test_dropped_reply_is_cancelled_and_never_seen():
    ahead = ReplyAhead("What is", began_at=0.0)
    delivered = []
    ahead.pass_on(Token("It"), delivered.append)
    ahead.drop()
    assert ahead.cancel.is_set()
    ahead.pass_on(Token(" is"), delivered.append)
    assert not ahead.open(time.perf_counter())
    assert delivered == []


def test_a_drop_after_the_endpoint_changes_nothing():
    ahead = ReplyAhead("Hi.", began_at=0.0)
    assert ahead.open(time.perf_counter())
    ahead.drop()
    assert not ahead.cancel.is_set() and not ahead.dropped


def test_timings_count_from_the_endpoint_and_stages_done_before_it_are_zero():
    ahead = ReplyAhead("Why is the sky blue?", began_at=0.0)
    delivered = []
    ahead.pass_on(Timing("llm_first_token", 100.0), delivered.append)  # 100 ms into the turn
    ahead.open(ahead.started_at + 0.3)  # the endpoint came 300 ms into the turn
    ahead.pass_on(Timing("first_audio", 450.0), delivered.append)
    ahead.pass_on(
        result(stt_ms=0.0, first_audio_ms=450.0, total_ms=900.0, tokens_per_s=40.0),
        delivered.append,
    )
    assert delivered[0] == Timing("llm_first_token", 0.0)
    assert delivered[1] == Timing("first_audio", 150.0)
    assert delivered[2].timings == {
        "stt_ms": 0.0,
        "first_audio_ms": 150.0,
        "total_ms": 600.0,
        "tokens_per_s": 40.0,  # a rate, not a time: left alone
    }


def test_a_reply_is_begun_only_in_the_pause_its_transcript_came_from():
    slot = ReplyAheadSlot()
    pause = slot.pause_id
    slot.next_pause()  # the user spoke again before the early transcript came back
    assert slot.begin("What is", pause, began_at=0.0) is None
    ahead = slot.begin("What is the time?", slot.pause_id, began_at=0.0)
    assert ahead is not None
    assert slot.begin("What is the time?", slot.pause_id, began_at=0.0) is None  # one per pause


def test_the_next_pause_drops_the_reply_and_counts_it():
    slot = ReplyAheadSlot()
    ahead = slot.begin("Tell me", slot.pause_id, began_at=0.0)
    assert slot.next_pause() is ahead
    assert ahead.dropped and ahead.cancel.is_set()
    assert (slot.kept, slot.dropped) == (0, 1)
    assert slot.next_pause() is None  # nothing left to drop
    assert slot.dropped == 1


def test_a_dropped_reply_gives_back_the_conversation_before_it_once():
    slot = ReplyAheadSlot()
    before = [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}]
    ahead = slot.begin("Tell me", slot.pause_id, began_at=0.0)
    slot.started(ahead, before)
    before.append({"role": "user", "content": "Tell me"})  # the turn adds to the history
    assert slot.history_to_restore() is None  # still held: its endpoint may yet come
    slot.next_pause()
    assert slot.history_to_restore() == before[:2]
    assert slot.history_to_restore() is None


def test_an_opened_reply_keeps_its_place_in_the_conversation():
    slot = ReplyAheadSlot()
    ahead = slot.begin("What is the time?", slot.pause_id, began_at=0.0)
    slot.started(ahead, [])
    with slot.lock:
        assert slot.take() is ahead
    assert ahead.open(time.perf_counter())
    assert slot.history_to_restore() is None
    assert slot.next_pause() is None  # taken at the endpoint: no longer this pause's
