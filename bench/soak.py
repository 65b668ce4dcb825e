"""Soak: many voice turns through the app's real engine process, watching for leaks,
crashes and latency drift.

    python bench/soak.py [--turns N] [--reset-every K] [--max-reply-s S] [--json]

Set-up as the window runs it: the engine in its supervised child process
(desktop.host.EngineHost), hands-free with echo cancellation, listening to a
private PulseAudio server's virtual microphone (tests/audio_server.py) with
the speaker leaking back into it at -10 dB, 40 ms late; every finished turn is
saved to a history database, as the window does. Spoken questions (espeak-ng)
are played into the microphone in real time, one after another.

Per turn: play a question, wait for its answer, press Stop if Parley is still
speaking S seconds (default 2) after it began, wait until the engine is idle,
then read the engine process's memory from /proc. The conversation starts anew
every K turns (default 10), as a user changing topic would; with K=0 it never
does and the model's context fills and is trimmed (slower turns: see README).

Figures:
- crashes: engine deaths (the supervisor restarted it, or gave up).
- rss_peak_mb, rss_final_mb: the engine process's VmHWM and last VmRSS.
- rss_growth_mb: final VmRSS minus VmRSS after the warm-up (the first tenth).
- p95_first_ms, p95_last_ms: 95th percentile voice-to-voice of the first and
  last tenth of the turns, on the wall clock: from the moment the question's
  playback finished (paplay returned) to the engine's "speaking" state (its
  first audio handed to the output stream). drift_pct compares the two.
- unanswered: questions with no answer in 20 s; self_triggered: turns no
  question accounts for (Parley hearing itself); spoke_before_question_ended:
  turns where Parley was already speaking before the question finished (it
  answered a fragment, or lagged a turn behind); no_voice_to_voice: turns with
  no voice-to-voice time (those, and turns it never spoke in).
- heard_p95_first_ms, heard_p95_last_ms: the same for the time from the end of
  the question to the engine taking it up ("transcribing", or "thinking" for a
  reply begun ahead, which comes out at the endpoint): the part of
  voice-to-voice spent hearing the question end, before any model runs. It can
  be negative: paplay returns only once the server has drained its buffer, and
  the endpointer may have heard the clip's trailing silence end the utterance
  before that.
- engine_cpu_ms_first, engine_cpu_ms_last: mean CPU time the engine process
  used per turn in the first and last tenth (more work per turn, or not).
- audio_backlog_warnings, audio_backlog_max_ms: how often the engine's audio
  processing fell half a second or more behind the microphone (its log).
- echoes_heard, echo_renewals: how often Parley's own words came back through
  the echo canceller (recognised and ignored: no turn, but a false barge-in
  and a late endpoint), and how often it renewed the canceller for that.
- audio_reopens: how often the engine reopened its audio stream because the
  microphone's audio had fallen behind (PulseAudio underruns: see streams.py).
Targets for 300 turns: 0 crashes, growth < 30 MB, drift within 10 %.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import spoken_corpus  # noqa: E402
from bench.turn import percentile  # noqa: E402
from desktop.config import Settings  # noqa: E402
from desktop.engine.events import Failure, State, TurnResult  # noqa: E402
from desktop.history.recorder import Recorder  # noqa: E402
from desktop.history.store import HistoryStore  # noqa: E402
from desktop.host.messages import (  # noqa: E402
    EngineGaveUp,
    EngineRestarted,
    LoadFailed,
    NewConversation,
    Ready,
    StopReply,
)
from tests.audio_server import VirtualAudio, refresh_portaudio  # noqa: E402

TARGETS = {"crashes": 0, "rss_growth_mb": 30.0, "drift_pct": 10.0}
ANSWER_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 120.0
QUIET_S = 0.5
GAP_S = 0.3


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds so far per thread name (Linux /proc): which worker a slow turn kept busy."""
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name, rest = task.joinpath("stat").read_text().rsplit(")", 1)
        except OSError:  # the thread ended meanwhile
            continue
        fields = rest.split()
        name = name.split("(", 1)[1]
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        totals[name] = totals.get(name, 0.0) + seconds
    return totals


def engine_log(logs: Path) -> str:
    """The engine's log, rotated files first."""
    files = sorted(logs.glob("engine.log*"), key=lambda f: f.name, reverse=True)
    return "".join(f.read_text("utf-8", "replace") for f in files)


def echo_counts(logs: Path) -> tuple[int, int]:
    """How often the engine heard its own words, and renewed its echo canceller."""
    text = engine_log(logs)
    return text.count("ignored an echo of Parley's own words"), text.count(
        "renewed the echo canceller"
    )


def backlog_warnings(logs: Path) -> list[int]:
    """The engine log's "N ms behind the microphone" warnings, in ms."""
    pattern = r"processing is (\d+) ms behind the microphone"
    return [int(ms) for ms in re.findall(pattern, engine_log(logs))]


def proc_status_mb(pid: int, field: str) -> float:
    """VmRSS or VmHWM of a process, in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


class Watch:
    """The engine's events as the soak needs them, from the host's reader thread."""

    def __init__(self) -> None:
        self.events: list[tuple[float, object]] = []
        self.lock = threading.Lock()
        self.crashes = 0
        self.gave_up = False

    def __call__(self, event: object) -> None:
        if isinstance(event, EngineRestarted | EngineGaveUp):
            self.crashes += 1
            self.gave_up = self.gave_up or isinstance(event, EngineGaveUp)
        if isinstance(event, State | TurnResult | Ready | LoadFailed | Failure | EngineGaveUp):
            with self.lock:
                self.events.append((time.perf_counter(), event))

    def mark(self) -> int:
        with self.lock:
            return len(self.events)

    def since(self, mark: int, kind: type) -> list[tuple[float, object]]:
        with self.lock:
            return [(t, e) for t, e in self.events[mark:] if isinstance(e, kind)]

    def state(self) -> str:
        with self.lock:
            states = [e.name for _, e in self.events if isinstance(e, State)]
        return states[-1] if states else ""


def wait_ready(watch: Watch) -> None:
    deadline = time.perf_counter() + READY_TIMEOUT_S
    while time.perf_counter() < deadline:
        if watch.since(0, LoadFailed):
            raise SystemExit(f"soak: the engine could not load: {watch.since(0, LoadFailed)}")
        ready = watch.since(0, Ready)
        if ready:
            if not ready[-1][1].voice:
                raise SystemExit("soak: the engine found no microphone on the virtual server")
            return
        time.sleep(0.05)
    raise SystemExit("soak: the engine was not ready in time")


def one_turn(audio: VirtualAudio, host, watch: Watch, clip: Path, max_reply_s: float) -> dict:
    mark = watch.mark()
    began = time.perf_counter()
    audio.play_into_mic(clip, block=True)
    ended = time.perf_counter()
    spoke_at = stopped = heard_at = None
    deadline = ended + ANSWER_TIMEOUT_S
    while time.perf_counter() < deadline and not watch.gave_up:
        states = watch.since(mark, State)
        # A reply begun ahead skips "transcribing": its held "thinking" comes out
        # at the endpoint.
        taken_up = [t for t, e in states if e.name in ("transcribing", "thinking")]
        if taken_up and heard_at is None:
            heard_at = taken_up[0]
        speaking = [t for t, e in states if e.name == "speaking"]
        if speaking and spoke_at is None:
            spoke_at = speaking[0]
        if spoke_at and not stopped and time.perf_counter() - spoke_at > max_reply_s:
            host.send(StopReply())
            stopped = True
        answered = watch.since(mark, TurnResult)
        if answered and watch.state() in ("idle", "listening"):
            break
        time.sleep(0.02)
    answers = watch.since(mark, TurnResult)
    time.sleep(QUIET_S)
    # Speech that began before the question had finished playing answers something
    # else (a fragment of it, or an earlier question): no voice-to-voice time.
    early = spoke_at is not None and spoke_at < ended
    return {
        "voice_to_voice_ms": None
        if spoke_at is None or early
        else round((spoke_at - ended) * 1000, 1),
        "heard_ms": None if heard_at is None else round((heard_at - ended) * 1000, 1),
        "spoke_early": early,
        "answered": bool(answers),
        "turns": len(watch.since(mark, TurnResult)),
        "stopped": bool(stopped),
        "answer": answers[0][1].reply if answers else None,
        "heard": [result.transcript for _, result in answers],
        # The engine's own clock, from the endpoint it detected to its first audio:
        # flat while voice_to_voice grows means the time goes before the endpoint.
        "engine_first_audio_ms": answers[0][1].timings.get("first_audio_ms") if answers else None,
        "seconds": round(time.perf_counter() - began, 1),
    }


def run(
    turns: int, reset_every: int, max_reply_s: float, scratch: Path, verbose: bool = False
) -> dict:
    from desktop.host.supervisor import EngineHost

    clips = spoken_corpus(scratch, voices="one")  # the soak figures the README quotes
    os.environ["PARLEY_HOME"] = str(scratch / "home")
    settings = Settings(temperature=0.0, hands_free=True, echo_cancellation=True)
    audio = VirtualAudio().start()
    host = None
    try:
        os.environ.update(audio.env)
        refresh_portaudio()
        watch = Watch()
        host = EngineHost(settings, watch)
        problems: list[str] = []
        host.recorder = Recorder(HistoryStore(scratch / "history.db"), problems.append)
        with audio.echo_loopback(gain_db=-10.0, latency_ms=40):
            host.start()
            wait_ready(watch)
            time.sleep(1.0)  # room tone for the endpointer
            warm = max(1, turns // 10)
            per_turn: list[dict] = []
            rss_after_warmup = None
            started = time.perf_counter()
            for index in range(turns):
                if watch.gave_up:
                    break
                if reset_every and index % reset_every == 0:
                    host.send(NewConversation())
                cpu_before = cpu_seconds(host.pid)
                threads_before = cpu_by_thread(host.pid) if verbose else {}
                turn = one_turn(audio, host, watch, clips[index % len(clips)], max_reply_s)
                turn["engine_cpu_ms"] = round((cpu_seconds(host.pid) - cpu_before) * 1000)
                if verbose:  # the busiest threads of the turn, in ms
                    spent = {
                        name: round(1000 * (seconds - threads_before.get(name, 0.0)))
                        for name, seconds in cpu_by_thread(host.pid).items()
                    }
                    turn["cpu_ms_by_thread"] = dict(
                        sorted(spent.items(), key=lambda item: -item[1])[:5]
                    )
                turn["rss_mb"] = round(proc_status_mb(host.pid, "VmRSS"), 1)
                per_turn.append(turn)
                if index + 1 == warm:
                    rss_after_warmup = turn["rss_mb"]
                # An unanswered turn, or one more than the question: say which, with
                # what the engine logged.
                if not turn["answered"] or turn["turns"] > 1:
                    what = "unanswered" if not turn["answered"] else "answered more than once"
                    tail = engine_log(scratch / "home" / "logs").splitlines()[-25:]
                    print(f"soak: turn {index + 1} {what}: {turn}", file=sys.stderr)
                    print("\n".join(f"  engine: {line}" for line in tail), file=sys.stderr)
                if verbose or (index + 1) % 25 == 0:
                    print(
                        f"soak: {index + 1}/{turns} turns, engine RSS {turn['rss_mb']:.0f} MB"
                        + (f" {turn}" if verbose else ""),
                        file=sys.stderr,
                        flush=True,
                    )
            elapsed = time.perf_counter() - started
            peak = proc_status_mb(host.pid, "VmHWM")
        backlog = backlog_warnings(scratch / "home" / "logs")
        echoes_heard, echo_renewals = echo_counts(scratch / "home" / "logs")
        reopens = engine_log(scratch / "home" / "logs").count("reopened the audio stream")
        saved = sum(s.turns for s in host.recorder.store.conversations())
        host.recorder.close()
    finally:
        if host is not None:
            host.stop()
        audio.stop()
    first, last = first_and_last_p95(per_turn)
    heard_first, heard_last = first_and_last_p95(per_turn, "heard_ms")
    cpu_first, cpu_last = first_and_last_mean(per_turn, "engine_cpu_ms")
    final = per_turn[-1]["rss_mb"] if per_turn else None
    return {
        "turns": len(per_turn),
        "crashes": watch.crashes,
        "rss_peak_mb": round(peak, 1),
        "rss_after_warmup_mb": rss_after_warmup,
        "rss_final_mb": final,
        "rss_growth_mb": None if final is None else round(final - rss_after_warmup, 1),
        "p95_first_ms": first,
        "p95_last_ms": last,
        "drift_pct": None if not first or last is None else round((last - first) / first * 100, 1),
        "heard_p95_first_ms": heard_first,
        "heard_p95_last_ms": heard_last,
        "engine_cpu_ms_first": cpu_first,
        "engine_cpu_ms_last": cpu_last,
        "audio_backlog_warnings": len(backlog),
        "audio_backlog_max_ms": max(backlog, default=0),
        "echoes_heard": echoes_heard,
        "echo_renewals": echo_renewals,
        "audio_reopens": reopens,
        "unanswered": sum(not t["answered"] for t in per_turn),
        "spoke_before_question_ended": sum(t.get("spoke_early", False) for t in per_turn),
        "no_voice_to_voice": sum(t["voice_to_voice_ms"] is None for t in per_turn),
        "self_triggered": sum(max(0, t["turns"] - 1) for t in per_turn),
        "stopped_by_bench": sum(t["stopped"] for t in per_turn),
        "saved_turns": saved,
        "history_problems": problems,
        "reset_every": reset_every,
        "minutes": round(elapsed / 60, 1),
        "targets": TARGETS,
    }


def first_and_last_p95(
    per_turn: list[dict], key: str = "voice_to_voice_ms"
) -> tuple[float | None, float | None]:
    """p95 of ``key`` (ms) over the first and the last tenth of the turns."""
    tenth = max(1, len(per_turn) // 10)

    def p95(part: list[dict]) -> float | None:
        values = [t[key] for t in part if t.get(key) is not None]
        return round(percentile(values, 0.95), 1) if values else None

    return p95(per_turn[:tenth]), p95(per_turn[-tenth:])


def first_and_last_mean(per_turn: list[dict], key: str) -> tuple[float | None, float | None]:
    """Mean of ``key`` over the first and the last tenth of the turns."""
    tenth = max(1, len(per_turn) // 10)

    def mean(part: list[dict]) -> float | None:
        values = [t[key] for t in part if t.get(key) is not None]
        return round(sum(values) / len(values), 1) if values else None

    return mean(per_turn[:tenth]), mean(per_turn[-tenth:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--reset-every", type=int, default=10, help="0: one long conversation")
    parser.add_argument("--max-reply-s", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="each turn on stderr")
    parser.add_argument("--keep-logs", type=Path, help="copy the engine's logs here at the end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-soak-") as folder:
        try:
            result = run(args.turns, args.reset_every, args.max_reply_s, Path(folder), args.verbose)
        finally:
            if args.keep_logs is not None:
                shutil.copytree(Path(folder) / "home" / "logs", args.keep_logs, dirs_exist_ok=True)
    if args.json:
        print(json.dumps(result))
        return 0
    for key, value in result.items():
        print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
