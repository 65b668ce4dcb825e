"""The soak benchmark runs voice turns through the real engine process and reports
its figures. Asserts the report's shape and what must hold at any length (no crash,
every question answered and saved), never a time or a memory figure."""

import json
import os
import sys

import pytest

from tests.bench.scripts import run_ok
from tests.conftest import REPO


@pytest.mark.slow
def test_soak_reports_its_figures():
    done = run_ok("bench/soak.py", "--turns", "6", "--reset-every", "3", "--json")
    report = json.loads(done.stdout)
    for key in ("crashes", "rss_growth_mb", "p95_first_ms", "p95_last_ms"):
        assert key in report, key
    assert report["turns"] == 6
    assert report["crashes"] == 0
    assert report["unanswered"] == 0, done.stderr[-4000:]
    assert report["saved_turns"] == 6 + report["self_triggered"]
    assert report["rss_peak_mb"] >= report["rss_final_mb"] > 100
    assert report["p95_first_ms"] > 0 and report["p95_last_ms"] > 0
    # Taken up before Parley spoke (possibly before paplay returned: see bench/soak.py).
    assert report["heard_p95_first_ms"] is not None
    assert report["heard_p95_first_ms"] < report["p95_first_ms"]
    assert report["engine_cpu_ms_first"] > 0 and report["engine_cpu_ms_last"] > 0
    assert report["audio_backlog_warnings"] >= 0
    assert report["echo_renewals"] <= report["echoes_heard"]
    assert report["audio_reopens"] >= 0


def test_first_and_last_tenth_are_summarised_at_full_length():
    """300 turns, as the issue's run: the figures come from 30 turns at each end.
    (A 6-turn run has one turn a tenth and never reached the percentile's arithmetic.)"""
    sys.path.insert(0, str(REPO))
    from bench.soak import first_and_last_p95

    turns = [{"voice_to_voice_ms": float(n)} for n in range(300)]
    turns[5]["voice_to_voice_ms"] = None  # a turn that was never answered
    first, last = first_and_last_p95(turns)
    assert 27 < first < 29
    assert 297 < last < 299


def test_backlog_warnings_are_read_from_the_engine_log(tmp_path):
    sys.path.insert(0, str(REPO))
    from bench.soak import backlog_warnings

    assert backlog_warnings(tmp_path) == []  # no log yet: none
    (tmp_path / "engine.log.1").write_text(
        "2026-11-28 WARNING desktop.engine.audio.streams: audio: processing is 700 ms behind the"
        " microphone\n"
    )
    (tmp_path / "parley.log").write_text("processing is 999 ms behind the microphone\n")
    (tmp_path / "engine.log").write_text(
        "2026-11-28 WARNING desktop.engine.audio.streams: audio: processing is 500 ms behind the"
        " microphone\n2026-11-28 INFO desktop.engine.audio.streams: audio: processing has caught up"
        " with the microphone\n2026-11-28 WARNING desktop.engine.audio.streams: audio: processing"
        " is 1230 ms behind the microphone\n"
    )
    # The engine's log and its rotated file; the window's own log is not the engine's.
    assert sorted(backlog_warnings(tmp_path)) == [500, 700, 1230]


def test_cpu_seconds_counts_this_process():
    sys.path.insert(0, str(REPO))
    from bench.soak import cpu_seconds

    before = cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))  # some work of our own
    assert cpu_seconds(os.getpid()) > before


def test_echo_counts_are_read_from_the_engine_log(tmp_path):
    sys.path.insert(0, str(REPO))
    from bench.soak import echo_counts

    assert echo_counts(tmp_path) == (0, 0)
    (tmp_path / "engine.log.1").write_text(
        "INFO desktop.engine.conversation.voice_loop: ignored an echo of Parley's own words: 'Paris.'\n"
        "INFO desktop.engine.audio.echo_path: renewed the echo canceller (1 so far)\n"
    )
    (tmp_path / "engine.log").write_text(
        "INFO desktop.engine.conversation.voice_loop: ignored an echo of Parley's own words: 'The sky'\n"
    )
    assert echo_counts(tmp_path) == (2, 1)
