"""The decoding benchmark runs end to end on the real tiny.en and reports every option.

It asserts the report's shape and sanity, never a time: CI machines are noisy.
"""

import json
import os
import sys

from tests.bench.scripts import run_ok, run_script


def test_decoding_benchmark_reports_all_four_decoders_per_voice():
    done = run_ok("bench/stt_decoding.py", "--questions", "2", "--voices", "2", "--json")
    report = json.loads(done.stdout)
    assert report.pop("questions") == 4
    assert set(report) == {
        "10 s window, greedy",
        "10 s window, beam 5",
        "30 s window, greedy",
        "30 s window, beam 5",
    }
    for figures in report.values():
        assert len(figures["wer_per_voice"]) == 2
        assert all(0 <= wer < 0.5 for wer in figures["wer_per_voice"])
        assert figures["ms_p50"] > 0


def test_decoding_benchmark_without_espeak_says_so_in_one_line(tmp_path):
    # A PATH holding only this Python: espeak-ng cannot be found.
    (tmp_path / "python").symlink_to(sys.executable)
    done = run_script("bench/stt_decoding.py", "--json", env={**os.environ, "PATH": str(tmp_path)})
    assert done.returncode != 0
    assert done.stderr.strip() == "bench: espeak-ng is needed to speak the questions"
    assert done.stdout == ""
