"""The engine host without any Qt: a real spawned engine process, real models."""

import os
import signal
import threading
import time

import pytest

from desktop.config import Settings
from desktop.engine.events import Token, TurnResult
from desktop.host import supervisor
from desktop.host.messages import (
    Ask,
    EngineGaveUp,
    EngineRestarted,
    LoadFailed,
    NewConversation,
    Ready,
    StopReply,
)
from desktop.host.supervisor import EngineHost, describe_exit


class Events:
    def __init__(self):
        self.items = []
        self.changed = threading.Condition()

    def __call__(self, event):
        with self.changed:
            self.items.append(event)
            self.changed.notify_all()

    def of(self, kind):
        with self.changed:
            return [e for e in self.items if isinstance(e, kind)]

    def wait_for(self, kind, count=1, timeout=90.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while len([e for e in self.items if isinstance(e, kind)]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no {kind.__name__} in {timeout} s; got {self.items[-5:]}"
                self.changed.wait(left)
        return self.of(kind)


@pytest.fixture
def host(parley_home):
    hosts = []

    def make(settings=None):
        events = Events()
        engine = EngineHost(settings or Settings(temperature=0.0), events)
        engine.start()
        hosts.append(engine)
        return engine, events

    yield make
    for engine in hosts:
        engine.stop()


def test_describe_exit_names_the_signal():
    assert describe_exit(-signal.SIGKILL) == "it was killed (SIGKILL)"
    assert describe_exit(3) == "it exited with code 3"
    assert describe_exit(None) == "it stopped answering"


def test_a_turn_through_the_pipe_and_a_clean_stop(host):
    engine, events = host()
    events.wait_for(Ready)
    engine.send(Ask("What is the capital of France?"))
    (result,) = events.wait_for(TurnResult)
    assert "Paris" in result.reply
    assert "".join(t.text for t in events.of(Token)).strip() == result.reply
    process = engine._process
    engine.stop()
    assert not process.is_alive() and process.exitcode == 0  # it left on its own


def test_stop_reply_cancels_the_turn(host):
    engine, events = host(Settings(temperature=0.0, max_tokens=1500))
    events.wait_for(Ready)
    engine.send(Ask("Tell me a very long story about a dragon."))
    events.wait_for(Token, count=5)
    engine.send(StopReply())
    (result,) = events.wait_for(TurnResult, timeout=10)
    assert result.cancelled and result.reply


def test_history_survives_a_crash_and_new_conversation_clears_it(host):
    engine, events = host()
    events.wait_for(Ready)
    engine.send(Ask("My name is Ada."))
    events.wait_for(TurnResult)
    os.kill(engine.pid, signal.SIGKILL)
    (restarted,) = events.wait_for(EngineRestarted)
    assert "SIGKILL" in restarted.reason
    events.wait_for(Ready, count=2)
    assert engine.history[0] == {"role": "user", "content": "My name is Ada."}
    engine.send(NewConversation())
    assert engine.history == []


def test_an_engine_that_keeps_dying_is_given_up(host, monkeypatch):
    monkeypatch.setattr(supervisor, "MAX_RESTARTS", 1)
    engine, events = host()
    events.wait_for(Ready)
    os.kill(engine.pid, signal.SIGKILL)
    events.wait_for(Ready, count=2)
    os.kill(engine.pid, signal.SIGKILL)
    (gave_up,) = events.wait_for(EngineGaveUp)
    assert "SIGKILL" in gave_up.reason
    assert engine.pid is None and not engine.running
    engine.send(Ask("anyone there?"))  # dropped quietly, no exception


def test_a_broken_model_file_is_a_load_failure_not_a_crash(host, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(200))
    engine, events = host(Settings(llm_model=str(broken)))
    (failed,) = events.wait_for(LoadFailed)
    assert "broken.gguf" in failed.message
    assert engine.running  # it waits for better settings instead of dying
    assert not events.of(EngineRestarted)
