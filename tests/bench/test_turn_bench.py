"""The turn benchmark runs end to end and reports what the README quotes.

It asserts the report's shape and sanity, never a time: CI machines are noisy.
"""

import json

import pytest

from tests.bench.scripts import run_ok


@pytest.mark.slow
def test_turn_benchmark_reports_every_stage_for_both_pipelines():
    report = json.loads(run_ok("bench/turn.py", "--rounds", "1", "--json", timeout=900).stdout)
    for pipeline in ("parley", "raw"):
        for stage in ("stt_ms", "llm_first_token_ms", "first_audio_ms"):
            figures = report[pipeline][stage]
            assert 0 < figures["p50"] <= figures["p95"]
            assert figures["n"] == report["turns"] == 10
        assert 0 <= report[pipeline]["wer"] < 0.2
    assert set(report["ratio"]) == {"stt_ms", "llm_first_token_ms", "first_audio_ms"}
