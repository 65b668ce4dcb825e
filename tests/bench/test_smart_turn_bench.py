"""The Smart Turn benchmark runs on the real model and voices and reports each voice."""

import json

import pytest

from tests.bench.scripts import run_ok


@pytest.mark.slow
def test_smart_turn_benchmark_judges_whole_and_cut_questions_per_voice():
    report = json.loads(run_ok("bench/smart_turn.py", "--json").stdout)
    voices = [row["voice"] for row in report["rows"]]
    assert voices[0] == "piper" and len(voices) == 5
    for row in report["rows"]:
        assert row["questions"] >= 8, row
        assert 0 <= row["whole_complete"] <= row["questions"]
        assert 0 <= row["cut_incomplete"] <= row["questions"]
    assert report["ms_per_call_p50"] > 0
