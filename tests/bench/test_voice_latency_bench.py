"""The live voice benchmark runs end to end over real audio streams and reports its figures.

It starts its own virtual sound server (tests/audio_server.py), so no fixture is
needed. Asserts the report's shape and sanity, never a time: CI machines are noisy.
"""

import json
import shutil

import pytest

from bench.corpus import speak
from tests.bench.scripts import run_ok

QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Why is the sky blue?",
]


@pytest.mark.slow
def test_voice_benchmark_measures_a_live_session(tmp_path):
    for tool in ("espeak-ng", "pulseaudio", "pacat", "paplay"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: make test installs it")
    for index, text in enumerate(QUESTIONS):
        speak(text, tmp_path / f"q{index}.wav")
    done = run_ok(
        "bench/voice_latency.py",
        "--corpus",
        str(tmp_path),
        "--barge-ins",
        "1",
        "--paused",
        "2",
        "--json",
    )
    report = json.loads(done.stdout)

    # 2 questions with a pause in the middle; a barge-in round asks for a story,
    # then interrupts it
    played = len(QUESTIONS) + 2 + 2
    assert report["questions_played"] == played
    assert report["barge_in_rounds"] == 1
    assert report["turns"] == played - report["questions_missed"] + report["self_triggered_turns"]
    assert report["self_triggered_turns"] >= 0
    assert report["questions_missed"] < played
    assert len(report["questions"]) == played
    assert report["worst_match"] > 0.5, "a question was not found on the microphone channel"

    figures = [report["voice_to_voice_ms"], report["barge_in_stop_ms"]]
    figures += [report["stages"][s] for s in ("stt_ms", "llm_first_token_ms", "first_audio_ms")]
    figures.append(report["stages"]["endpoint_ms"])
    for figure in figures:
        assert set(figure) == {"p50", "p95", "n"}
        if figure["n"]:
            assert figure["p50"] <= figure["p95"]
    assert 1 <= report["voice_to_voice_ms"]["n"] <= len(QUESTIONS)
    assert report["voice_to_voice_ms"]["p50"] > 0
    assert report["stages"]["first_audio_ms"]["n"] >= 1
    assert report["endpoint_ms"] == report["stages"]["endpoint_ms"]
    for key in ("wer", "wer_raw"):
        assert 0 <= report[key] <= 1
    assert set(report["targets"]) >= {"voice_to_voice_p50_ms", "barge_in_stop_p95_ms"}
    # Parley's own figure for the same turns, beside the recording's.
    assert report["own"]["voice_to_voice_ms"]["n"] >= 1
    assert report["own_minus_outside_abs_ms"]["n"] == report["own"]["voice_to_voice_ms"]["n"]
    assert report["own"]["voice_to_voice_ms"]["p50"] > 0
    assert report["room"] == "plain" and set(report["wer_per_voice"]) == {"corpus"}
    # The paused questions (0.4 s and 0.6 s of silence mid-sentence), tallied by pause.
    assert {pause: n for pause, (_, n) in report["cut_offs_by_pause_ms"].items()} == {
        "400": 1,
        "600": 1,
    }
    assert 0 <= report["wer_paused"] <= 1
    for key in ("stream_ended_and_reopened", "stream_went_quiet_and_reopened"):
        assert report[key] >= 0
    assert report["stream_refreshed_while_idle"] >= 0


@pytest.mark.slow
def test_audio_path_benchmark_loops_clicks_back_in_both_rooms():
    done = run_ok("bench/audio_path.py", "--clicks", "4", "--json")
    rows = json.loads(done.stdout)["rows"]
    assert [r["room"] for r in rows] == ["plain", "tuned"]
    for row in rows:
        assert row["copies_heard"] >= 3, row
        assert 0 < row["round_trip_ms"]["p50"] < 1000, row
        assert row["own_round_trip_ms"]["n"] >= 3, row
