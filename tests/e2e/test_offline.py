"""The offline proof: Parley works in a network namespace whose only interface is
loopback (tools/offline_run.py), so nothing could have left the machine, whether
from Python or from native code the offline guard cannot see.

Each test runs real commands inside such a namespace: a whole spoken turn with
``parley ask``, a typed turn through the engine process the window uses, and
``parley serve`` answering a client on 127.0.0.1. Where no namespace can be made
(not root and no user namespaces) they skip, naming that limit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest

from desktop import netguard
from tests.conftest import REPO, words

OFFLINE_RUN = REPO / "tools" / "offline_run.py"
NO_NAMESPACE = 77  # tools/offline_run.py's "cannot make a namespace"


def parley_command() -> list[str]:
    """The installed ``parley`` script, as a user runs it (else ``python -m desktop``)."""
    script = shutil.which("parley", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "desktop"]


def offline(*command: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(OFFLINE_RUN), "--", *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PARLEY_HOME": str(home)},
    )
    if done.returncode == NO_NAMESPACE and done.stderr.startswith("offline_run:"):
        pytest.skip(f"environment limit: {done.stderr.strip()}")
    return done


def records(home: Path) -> list[dict]:
    return netguard.read_log(home / "logs" / netguard.LOG_NAME)


def test_the_room_has_loopback_only(tmp_path):
    probe = """
        import json, os, socket
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=2)
            outside = "connected"
        except OSError as exc:
            outside = exc.strerror
        server = socket.create_server(("127.0.0.1", 0))
        socket.create_connection(server.getsockname(), timeout=2).close()
        print(json.dumps({"outside": outside, "marker": os.environ.get("PARLEY_OFFLINE_NAMESPACE")}))
    """
    done = offline(sys.executable, "-c", textwrap.dedent(probe), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"outside": "Network is unreachable", "marker": "1"}


def test_offline_run_reports_a_missing_namespace_or_runs_plain(tmp_path):
    """Where namespaces are refused: one clear line and exit 77, or --or-run-plain."""
    fake = """
        import sys
        sys.path.insert(0, "tools")
        import offline_run
        offline_run.unshare_network = lambda: "Operation not permitted"
        sys.exit(offline_run.main(sys.argv[1:]))
    """
    run = [sys.executable, "-c", textwrap.dedent(fake)]
    refused = subprocess.run([*run, "true"], capture_output=True, text=True, cwd=REPO)
    assert refused.returncode == NO_NAMESPACE
    assert refused.stderr == (
        "offline_run: cannot make a network namespace: Operation not permitted\n"
    )
    plain = subprocess.run(
        [*run, "--or-run-plain", "--", "sh", "-c", "exit 3"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert plain.returncode == 3 and "running with the network" in plain.stderr


def test_a_spoken_turn_works_offline(tmp_path, say):
    question = say("What is the capital of France?", "capital")
    answer = tmp_path / "answer.wav"
    done = offline(
        *parley_command(),
        "ask",
        "--audio",
        str(question),
        "--speak",
        str(answer),
        "--json",
        home=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"capital", "france"} <= set(words(result["transcript"]))
    assert result["reply"].strip()
    with wave.open(str(answer)) as spoken:
        frames = spoken.readframes(spoken.getnframes())
        assert spoken.getnframes() > spoken.getframerate() // 2  # over half a second
    assert np.abs(np.frombuffer(frames, dtype=np.int16)).max() > 1000  # not silence
    assert records(tmp_path) == []  # nothing went out, and nothing even tried


ENGINE_TURN = '''
"""A typed turn through the engine process the window runs, without any Qt."""
import json, queue, sys
from desktop.config import Settings
from desktop.engine.events import TurnResult
from desktop.host.messages import Ask, LoadFailed, Ready
from desktop.host.supervisor import EngineHost

if __name__ == "__main__":
    events = queue.SimpleQueue()
    # A remote server on a TEST-NET address: the engine's guard lets it through (the
    # user configured it), the namespace has no route, and the local model answers.
    settings = Settings(temperature=0.0, remote_url="http://192.0.2.9:8080")
    host = EngineHost(settings, events.put)
    host.start()
    try:
        while not isinstance(event := events.get(timeout=180), Ready | LoadFailed):
            pass
        if isinstance(event, LoadFailed):
            sys.exit(f"load failed: {event.message}")
        host.send(Ask("What is the capital of France?"))
        while not isinstance(event := events.get(timeout=180), TurnResult):
            pass
        print(json.dumps({"reply": event.reply, "llm": event.models.get("llm")}))
    finally:
        host.stop()
'''


def test_the_engine_process_answers_offline(tmp_path):
    script = tmp_path / "engine_turn.py"
    script.write_text(ENGINE_TURN)
    done = offline(sys.executable, str(script), home=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "paris" in words(result["reply"]), result
    seen = {(e["process"], e["event"], e["host"], e["verdict"]) for e in records(tmp_path)}
    assert seen == {("engine", "connect", "192.0.2.9", "allowed")}  # the engine is guarded


SERVE_CLIENT = '''
"""parley serve on 127.0.0.1 and one client request, both inside the namespace."""
import json, subprocess, sys, urllib.request

server = subprocess.Popen(
    [*sys.argv[1:], "serve", "--no-auth", "--port", "0"], stdout=subprocess.PIPE, text=True
)
try:
    for line in server.stdout:
        if "serving the OpenAI API at " in line:
            url = line.rsplit(" ", 1)[-1].strip()
            break
    else:
        sys.exit("parley serve ended without serving")
    body = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
    request = urllib.request.Request(
        url + "/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        reply = json.load(response)["choices"][0]["message"]["content"]
    print(json.dumps({"url": url, "reply": reply}))
finally:
    server.terminate()
    server.wait(timeout=30)
'''


def test_parley_serve_answers_a_local_client_offline(tmp_path):
    script = tmp_path / "serve_client.py"
    script.write_text(SERVE_CLIENT)
    done = offline(sys.executable, str(script), *parley_command(), home=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["url"].startswith("http://127.0.0.1:") and result["reply"].strip()
    assert records(tmp_path) == []
