"""The turn-end benchmark scores whole and cut sentences with the real starter model."""

import json

from tests.bench.scripts import run_ok


def test_turn_end_benchmark_judges_both_sets():
    report = json.loads(run_ok("bench/turn_end.py", "--json").stdout)
    assert report["model"].endswith(".gguf")
    for name in ("built_in", "everyday"):
        r = report[name]
        assert r["sentences"] >= 10
        for kind in ("whole", "cut"):
            assert sum(r[kind].values()) == r["sentences"], (name, kind, r[kind])
            assert len(r["scores"][kind]) == r["sentences"]
            assert all(0.0 <= p <= 1.0 for _, p in r["scores"][kind])
        # A cut sentence is shown as whisper writes it: a full stop after its last word.
        assert all(text.endswith(".") for text, _ in r["scores"]["cut"])
        assert r["ms_p50"] > 0
