"""The gate that holds a reply begun before the endpoint."""

import time

from desktop.engine.events import Notice, Timing, Token, TurnResult
from desktop.engine.reply_ahead import ReplyAhead


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
