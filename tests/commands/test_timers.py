"""Timers and reminders across processes, through the real `parley` command: set in
`parley chat`, listed and cancelled by `parley timers`, and rung by the next run
after the first was killed (SIGKILL: no chance to tidy up)."""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

from tests.conftest import REPO, run_parley


class Chat:
    """`parley chat` in a child process; its output read line by line as it comes."""

    def __init__(self, home):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "desktop", "chat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env={**os.environ, "PARLEY_HOME": str(home)},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.seen: list[str] = []

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)

    def type(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def wait_for(self, text, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} never came; output:\n{''.join(self.seen)}")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def quit(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def timers(home):
    done = run_parley("timers", "--json", env={"PARLEY_HOME": str(home)}, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_timer_survives_killing_the_process_and_rings_in_the_next_run(tmp_path):
    first = Chat(tmp_path)
    first.type("Set a timer for 4 seconds.")
    first.wait_for("Timer set for 4 seconds.", 120)
    first.kill()
    [pending] = timers(tmp_path)
    assert pending["kind"] == "timer" and pending["seconds"] == 4
    second = Chat(tmp_path)
    try:
        line = second.wait_for("⏰", 120)
    finally:
        second.quit()
    assert "Your 4 second timer is done." in line
    assert timers(tmp_path) == []


def test_parley_timers_lists_and_cancels(tmp_path):
    chat = Chat(tmp_path)
    chat.type("Set a pasta timer for 10 minutes.")
    chat.wait_for("Pasta timer set for 10 minutes.", 120)
    chat.quit()
    env = {"PARLEY_HOME": str(tmp_path)}
    listed = run_parley("timers", env=env, timeout=60)
    assert re.search(r"Pasta timer +due \d\d:\d\d:\d\d, in (9|10) minutes", listed.stdout), (
        listed.stdout
    )
    [pending] = timers(tmp_path)
    cancelled = run_parley("timers", "cancel", str(pending["id"]), env=env, timeout=60)
    assert cancelled.returncode == 0 and timers(tmp_path) == []
    again = run_parley("timers", "cancel", str(pending["id"]), env=env, timeout=60)
    assert again.returncode != 0 and "no pending timer" in again.stderr


@pytest.mark.slow
def test_a_reminder_set_in_one_chat_rings_in_the_next(tmp_path):
    # A clock time has minute resolution: the next whole minute, at least 20 s away.
    due = (datetime.now() + timedelta(seconds=80)).replace(second=0, microsecond=0)
    first = Chat(tmp_path)
    first.type(f"Remind me at {due:%H:%M} to take my pills.")
    first.wait_for("I'll remind you at", 120)
    first.quit()
    second = Chat(tmp_path)
    try:
        line = second.wait_for("⏰", 180)
    finally:
        second.quit()
    assert "Reminder: take your pills." in line
    assert datetime.now() >= due
