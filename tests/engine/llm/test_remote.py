"""Remote inference: a real llama.cpp server stands in for the bigger machine.

llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`)
serves the starter model on 127.0.0.1. Parley streams from it, and when it is
killed mid-reply or cannot be reached, the local model finishes the turn.
"""

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from desktop.engine.conversation.turn import Assistant
from desktop.engine.events import Notice, Token
from desktop.engine.llm.backend import SamplingOptions
from desktop.engine.llm.remote import FallbackBackend, RemoteBackend, RemoteError, api_base
from tests.conftest import run_parley


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    def __init__(self, model):
        self.log = tempfile.TemporaryFile("w+")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "2048",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            text=True,
        )  # fmt: skip (a file, not a pipe: llama.cpp's load log would fill a pipe and block it)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"llama_cpp.server exited: {self.log.read()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("llama_cpp.server did not start in 90 s")

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def llama_server(starter):
    server = LlamaServer(starter["llm"])
    yield server
    server.kill()


def fallback_assistant(assistant, url, max_tokens=200):
    options = SamplingOptions(max_tokens=max_tokens, temperature=0.0)
    assistant.llm.sampling = options
    remote = RemoteBackend(url, sampling=options)
    llm = FallbackBackend(remote, assistant.llm)
    return Assistant(llm, None, None, assistant.system_prompt, models={"llm": llm.description})


def test_api_base_accepts_the_usual_spellings():
    assert api_base("http://big:8080") == "http://big:8080/v1"
    assert api_base("http://big:8080/v1/") == "http://big:8080/v1"
    with pytest.raises(Exception, match="must start with http"):
        api_base("big:8080")


def test_a_turn_streams_from_the_server(fresh, llama_server):
    parley = fallback_assistant(fresh, llama_server.url)
    events = []
    result = parley.run_turn(text="What is the capital of France?", on_event=events.append)
    assert "Paris" in result.reply
    assert len([e for e in events if isinstance(e, Token)]) > 3
    assert not [e for e in events if isinstance(e, Notice)]
    assert result.models["llm"] == f"default model at {llama_server.url}/v1"
    assert RemoteBackend(llama_server.url).health(), "the server lists its model"


def test_killing_the_server_mid_reply_finishes_on_the_local_model(fresh, llama_server):
    parley = fallback_assistant(fresh, llama_server.url, max_tokens=300)
    events = []

    def on_event(event):
        events.append(event)
        if len([e for e in events if isinstance(e, Token)]) == 8:
            llama_server.kill()

    result = parley.run_turn(text="Tell me a long story about a dragon.", on_event=on_event)
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "finishing with the local model" in notices[0], notices
    remote_part = "".join(e.text for e in events[: events.index(
        next(e for e in events if isinstance(e, Notice)))] if isinstance(e, Token))  # fmt: skip
    assert len(remote_part) > 0 and result.reply.startswith(remote_part.strip())
    assert len(result.reply) > len(remote_part) + 20, "the local model carried on"
    assert result.models["llm"] == fresh.llm.description
    assert parley.messages[-1] == {"role": "assistant", "content": result.reply}


def test_an_unreachable_server_falls_back_with_a_clear_message(fresh):
    parley = fallback_assistant(fresh, f"http://127.0.0.1:{free_port()}")
    events = []
    result = parley.run_turn(text="What is the capital of France?", on_event=events.append)
    (notice,) = [e.message for e in events if isinstance(e, Notice)]
    assert notice.startswith("cannot reach the inference server at http://127.0.0.1:")
    assert notice.endswith("answering with the local model")
    assert "Paris" in result.reply
    again = []
    parley.run_turn(text="And of Germany?", on_event=again.append)  # not retried at once
    assert any(
        "answering with the local model" in e.message for e in again if isinstance(e, Notice)
    )


def test_health_names_the_problem():
    with pytest.raises(RemoteError, match="cannot reach the inference server"):
        RemoteBackend(f"http://127.0.0.1:{free_port()}").health()


def test_ask_remote_json_names_the_server(llama_server):
    done = run_parley("ask", "--text", "What is the capital of France?", "--json",
                      "--remote", llama_server.url, "--remote-model", "smol")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["models"]["llm"] == f"smol at {llama_server.url}/v1"
    assert result["reply"]


def test_ask_remote_unreachable_says_so_and_answers(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    done = run_parley("ask", "--text", "Say hello.", "--remote", url)
    assert done.returncode == 0, done.stderr
    assert f"cannot reach the inference server at {url}/v1" in done.stderr
    assert done.stdout.strip()
