"""Satellite benchmark: spoken questions through the real wyoming-satellite into `parley hub`.

    python bench/satellite.py [--questions N] [--satellites 1,2,4] [--no-local] [--json]

Each satellite (wyoming-satellite 1.0.0 from PyPI, in the venv `make test`
makes) gets a microphone that speaks the corpus's questions in real time,
each once the reply to the one before has finished (as a user waits for the
answer), and a speaker that is a file with the arrival time of each reply.
`parley hub` runs as a user runs it (the CLI, its own PARLEY_HOME, the
starter models; max_tokens 80 so that the run stays short).

Voice to voice, per question: from the last voiced sample the microphone
wrote to the first reply byte the satellite's speaker received (both wall
clock, one machine). Parley's own figure is the hub's "heard N ms" line for
that turn (its estimate of when the device played the first sample). With 2
and 4 satellites all ask at once. The hub's peak RSS (VmHWM) is read before
it is stopped. For comparison, the same questions through Parley's local voice
loop (bench/voice_latency.py, plain room) in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import spoken_corpus  # noqa: E402
from bench.turn import percentile  # noqa: E402
from tests.satellites.rig import Satellite  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"vs_local_p50": 1.15, "four_vs_one_p95": 3.0, "peak_rss_mb": 400}
HEARD = re.compile(r"^(?P<name>\S+)\s+\(heard (?P<ms>\d+) ms after you stopped\)")
ANSWER_TIMEOUT_S = 60.0


def spread(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 0.5), 1),
        "p95": round(percentile(ordered, 0.95), 1),
        "n": len(values),
    }


class HubProcess:
    """`parley hub` for the given satellites, its stdout collected."""

    def __init__(self, uris: list[str], home: Path) -> None:
        (home / "config").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PARLEY_HOME": str(home)}
        settings = home / "config" / "settings.toml"
        settings.write_text("max_tokens = 80\n")
        args = [sys.executable, "-m", "desktop", "hub"]
        for uri in uris:
            args += ["--satellite", uri]
        self.process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def connected(self, count: int) -> bool:
        return sum("[connected:" in line for _, line in self.lines) >= count

    def heard(self) -> list[tuple[str, float]]:
        found = []
        for _, line in self.lines:
            match = HEARD.match(line)
            if match:
                found.append((match["name"], float(match["ms"])))
        return found

    def peak_rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return round(int(match[1]) / 1024, 1) if match else None

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return -9


def run_hub(wavs: list[Path], count: int, scratch: Path) -> dict:
    """``count`` satellites, each asking every question; all at once."""
    folder = scratch / f"sats-{count}"
    folder.mkdir()
    satellites = [
        Satellite(folder, f"sat{i}", wavs, gap_s=1.0, lead_s=1.0, wait_for_replies=True)
        for i in range(count)
    ]
    for satellite in satellites:
        satellite.start()
    hub = HubProcess([s.uri for s in satellites], folder / "home")
    try:
        deadline = time.monotonic() + 600
        while not hub.connected(count) and time.monotonic() < deadline:
            if hub.process.poll() is not None:
                sys.exit(f"bench: parley hub exited: {hub.process.stderr.read()[-2000:]}")
            time.sleep(0.2)
        for satellite in satellites:
            wait_all_asked(satellite, len(wavs), deadline)
        for satellite in satellites:
            satellite.wait_until_quiet(quiet_s=3.0, timeout=ANSWER_TIMEOUT_S)
        peak = hub.peak_rss_mb()
    finally:
        code = hub.stop()
        for satellite in satellites:
            satellite.stop()
    outside, unanswered = [], 0
    for satellite in satellites:
        ends, starts = satellite.voice_ends(), satellite.replies_started()
        for k, end in enumerate(ends):
            upto = ends[k + 1] if k + 1 < len(ends) else float("inf")
            after = [s for s in starts if end < s < upto]
            if after:
                outside.append(1000.0 * (after[0] - end))
            else:
                unanswered += 1
    own = [ms for _, ms in hub.heard()]
    if os.environ.get("PARLEY_BENCH_DEBUG"):
        for at, line in hub.lines:
            print(f"{at:.2f} {line}", file=sys.stderr)
        for satellite in satellites:
            print(
                satellite.name,
                "asked",
                satellite.voice_ends(),
                "replies",
                satellite.replies_started(),
                file=sys.stderr,
            )
    return {
        "satellites": count,
        "questions": count * len(wavs),
        "unanswered": unanswered,
        "voice_to_voice_ms": spread(outside),
        "own_heard_ms": spread(own),
        "peak_rss_mb": peak,
        "hub_exit_code": code,
    }


def wait_all_asked(satellite: Satellite, count: int, deadline: float) -> None:
    while len(satellite.voice_ends()) < count:
        if time.monotonic() > deadline:
            sys.exit(f"bench: {satellite.name} did not get through its questions in time")
        time.sleep(0.5)


def run_local(wavs: list[Path]) -> dict | None:
    """The same questions through the local voice loop (bench/voice_latency.py)."""
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "voice_latency.py"),
            "--json",
            "--barge-ins",
            "0",
            "--paused",
            "0",
            "--corpus",
            str(wavs[0].parent),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if done.returncode != 0:
        print(f"bench: the local loop's run failed: {done.stderr[-1000:]}", file=sys.stderr)
        return None
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"voice_to_voice_ms": report.get("voice_to_voice_ms")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=10, help="questions per satellite")
    parser.add_argument("--satellites", default="1,2,4", help="satellite counts to run")
    parser.add_argument("--no-local", action="store_true", help="skip the local loop's run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    counts = [int(n) for n in args.satellites.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="parley-sat-bench-") as tmp:
        scratch = Path(tmp)
        corpus = scratch / "corpus"
        corpus.mkdir()
        wavs = spoken_corpus(corpus, "many")[: args.questions]
        for extra in set(corpus.glob("*.wav")) - set(wavs):
            extra.unlink()
            extra.with_suffix(".txt").unlink()
        runs = [run_hub(wavs, count, scratch) for count in counts]
        local = None if args.no_local else run_local(wavs)
    report: dict = {"runs": runs, "local": local}
    by_count = {r["satellites"]: r for r in runs}
    one = by_count.get(1)
    if one and local and local["voice_to_voice_ms"] and one["voice_to_voice_ms"]["p50"]:
        report["vs_local_p50"] = round(
            one["voice_to_voice_ms"]["p50"] / local["voice_to_voice_ms"]["p50"], 2
        )
    if one and 4 in by_count and one["voice_to_voice_ms"]["p95"]:
        report["four_vs_one_p95"] = round(
            by_count[4]["voice_to_voice_ms"]["p95"] / one["voice_to_voice_ms"]["p95"], 2
        )
    report["targets"] = TARGETS
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)
    return 0


def print_table(report: dict) -> None:
    print("satellites  questions  unanswered  v2v p50   v2v p95   own p50   own p95   peak RSS")
    for r in report["runs"]:
        v, o = r["voice_to_voice_ms"], r["own_heard_ms"]
        print(
            f"{r['satellites']:>10}  {r['questions']:>9}  {r['unanswered']:>10}  "
            f"{v['p50'] or 0:>7.0f}   {v['p95'] or 0:>7.0f}   {o['p50'] or 0:>7.0f}   "
            f"{o['p95'] or 0:>7.0f}   {r['peak_rss_mb'] or 0:>6.0f} MB"
        )
    local = report.get("local")
    if local and local.get("voice_to_voice_ms"):
        v = local["voice_to_voice_ms"]
        print(f"local loop (plain room): v2v p50 {v['p50']:.0f}, p95 {v['p95']:.0f} ms")
    for key, target in report["targets"].items():
        if key in report:
            print(f"{key}: {report[key]} (target <= {target})")


if __name__ == "__main__":
    raise SystemExit(main())
