"""The interrupted-reply benchmark runs end to end on the real models and reports both modes.

It asserts the report's shape and what pacing is for (fewer words written before
Stop), never a time: CI machines are noisy.
"""

import json

from tests.bench.scripts import run_ok


def test_interrupted_reply_benchmark_compares_paced_and_unpaced():
    report = json.loads(run_ok("bench/interrupted_reply.py", "--rounds", "1", "--json").stdout)
    assert report["pace_ahead_s"] == 5.0 and report["stop_after_s"] == 2.0
    for mode in ("paced", "unpaced"):
        figures = report[mode]
        assert figures["n"] == 1
        assert figures["cpu_ms"] > 0 and figures["words"] > 0
        assert figures["turn_ended_ms_after_stop"] >= 0
    # The same reply (temperature 0), stopped at the same point: held ~5 s of speech
    # ahead of the listener, the paced one was cut with far less of it written.
    assert report["paced"]["words"] < report["unpaced"]["words"]
    assert isinstance(report["cpu_saved_pct"], float)
