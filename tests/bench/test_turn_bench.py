"""The turn benchmark runs end to end and reports what the README quotes.

It asserts the report's shape and sanity, never a time: CI machines are noisy.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_turn_benchmark_reports_every_stage_for_both_pipelines():
    done = subprocess.run(
        [sys.executable, "bench/turn.py", "--rounds", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for pipeline in ("parley", "raw"):
        for stage in ("stt_ms", "llm_first_token_ms", "first_audio_ms"):
            figures = report[pipeline][stage]
            assert 0 < figures["p50"] <= figures["p95"]
            assert figures["n"] == report["turns"] == 10
        assert 0 <= report[pipeline]["wer"] < 0.2
    assert set(report["ratio"]) == {"stt_ms", "llm_first_token_ms", "first_audio_ms"}
