"""SIGKILL at random moments while turns are being saved: nothing half-written, nothing
lost but the turn in flight.

Two levels. The store itself, killed many times over 200 saved turns (fast). And
the real `parley chat` on the real starter model, killed at random moments during
60 answered turns (slow suite). The real test stops at 60 because every restart
reads the whole conversation again: SmolLM2-135M reads about 300 prompt tokens a
second on two cores, so restarts deep into a 200-turn conversation (6,000 tokens)
would cost half a minute each.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

TURNS = 200
REAL_TURNS = 60

# Carries on the newest conversation from where the file says it stands, printing the
# number of each turn once its transaction has committed.
WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from desktop.engine.events import TurnResult
    from desktop.history.recorder import Recorder
    from desktop.history.store import HistoryStore

    store = HistoryStore(Path(sys.argv[1]))
    recorder = Recorder(store, on_problem=sys.exit)
    listed = store.conversations()
    done = 0
    if listed:
        done = len(recorder.resume(listed[0].id).turns)
    print("ready", flush=True)
    for n in range(done, int(sys.argv[2])):
        recorder.record(TurnResult(f"question {n}", f"answer {n} " + "x" * 2000, "", {}, {}))
        print(n, flush=True)
    """
)


def saved_questions(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [row[0] for row in db.execute("SELECT question FROM turns ORDER BY id")]
    finally:
        db.close()


def confirmed_turns(output: str) -> int:
    return len(output.split())  # one number a line, printed after each commit


def test_sigkill_while_saving_loses_at_most_the_turn_in_flight(tmp_path):
    path = tmp_path / "history.db"
    rng = random.Random(7)
    kills = 0
    questions: list[str] = []
    while True:
        before = len(questions)
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(TURNS)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.03))  # a turn takes about half a millisecond here
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        output, _ = child.communicate()
        questions = saved_questions(path)  # also: PRAGMA integrity_check is "ok"
        confirmed = before + confirmed_turns(output)
        assert confirmed <= len(questions) <= confirmed + 1, "only the turn in flight may be lost"
        assert questions == [f"question {n}" for n in range(len(questions))], "no gap, no repeat"
        if child.returncode == 0:
            break
    assert len(questions) == TURNS
    assert kills >= 3, "the kills should have landed while turns were being saved"


class OutputReader:
    """Collects a child's stdout on a thread, so the test can wait for prompts."""

    def __init__(self, stream) -> None:
        self.text = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        while chunk := os.read(stream.fileno(), 4096):
            with self._lock:
                self.text += chunk.decode("utf-8", "replace")

    def prompts(self) -> int:
        with self._lock:
            return self.text.count("you> ")

    def finish(self) -> str:
        self._thread.join(30)
        return self.text


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_during_real_chat_turns(tmp_path):
    """`parley chat` answering with the real model, killed at random; each restart
    continues the saved conversation.

    Each run is killed at a random moment of a random turn (counted by its prompts,
    not by the clock, so a slow machine still makes progress): during the
    answer, during the save, or between turns.
    """
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    # A context that holds every turn: no trimming, so the KV cache is reused.
    (home / "config" / "settings.toml").write_text(
        "max_tokens = 12\ntemperature = 0.0\ncontext_size = 4096\n"
    )
    env = {**os.environ, "PARLEY_HOME": str(home)}
    path = home / "data" / "history.db"
    rng = random.Random(11)
    kills = 0
    turns = REAL_TURNS
    while True:
        questions = saved_questions(path) if path.exists() else []
        args = [sys.executable, "-m", "desktop", "chat"]
        if questions:
            args += ["--continue", "1"]
        remaining = "".join(f"Say the number {n}.\n" for n in range(len(questions), turns))
        child = subprocess.Popen(
            args, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        reader = OutputReader(child.stdout)
        child.stdin.write(remaining.encode())
        child.stdin.close()
        # The prompt of turn k shows once turn k-1 is answered and saved; the k-th
        # question is then already waiting on stdin, so a kill soon after lands in it.
        doomed_turn = rng.randint(1, 10)
        deadline = time.monotonic() + 300
        while reader.prompts() < doomed_turn and child.poll() is None:
            assert time.monotonic() < deadline, "parley chat stopped answering"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))  # a 12-token answer takes a few tenths of a second
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        output = reader.finish()
        after = saved_questions(path) if path.exists() else []
        # Each "you>" prompt after the first follows a turn that was answered and saved.
        confirmed = len(questions) + max(0, output.count("you> ") - 1)
        assert confirmed <= len(after) <= confirmed + 1, "only the turn in flight may be lost"
        assert after == [f"Say the number {n}." for n in range(len(after))]
        if child.returncode == 0:
            break
    assert len(after) == turns
    assert kills >= 3
