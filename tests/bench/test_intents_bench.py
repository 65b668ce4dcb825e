"""The intents benchmark runs end to end on the real models (a short run)."""

import json

from tests.bench.scripts import run_ok


def test_intents_benchmark_reports_every_figure():
    short = ("--timers", "2", "--rounds", "2", "--spoken", "2")
    report = json.loads(run_ok("bench/intents.py", "--json", *short).stdout)
    m = report["matching"]
    assert m["phrasings"] > 100 and m["near_misses"] > 50
    assert 0 < m["recall"] <= 1 and 0 < m["precision"] <= 1
    assert m["false_intents_on_near_misses"] == 0, m["false_intent_examples"]
    typed = report["typed_first_audio_ms"]
    assert typed["intent"]["n"] == typed["llm"]["n"] == 2
    spoken = report["spoken"]
    assert spoken["intent"]["turns"] == 2 and spoken["intent"]["answered_by_intent"] >= 1
    assert spoken["llm"]["answered_by_intent"] == 0
    timers = report["timers_while_talking"]
    assert timers["rang"] == timers["timers"] == 2
    assert timers["late_ms"]["p50"] > -20  # the chime sounds at (not before) the due second
