"""``parley serve``: real models over real HTTP, driven by the official openai client.

One server (on a free port, in a background thread) serves the whole module, on
the session's already-loaded assistant. The security rules get raw
``http.client`` requests, so that every header is exactly what the test says.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import logging
import os
import stat
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import openai
import pytest

from desktop.commands.serve import add_parser, run_serve
from desktop.engine.audio.samples import load_audio
from desktop.engine.conversation.turn import Assistant
from desktop.engine.speech.wer import word_error_rate
from desktop.errors import ParleyError
from desktop.serve import auth
from desktop.serve.server import ParleyServer, ServeOptions
from tests.conftest import words

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


@dataclass
class Served:
    server: ParleyServer
    token: str

    @property
    def port(self) -> int:
        return self.server.port


def serve(assistant, token: str | None) -> ParleyServer:
    server = ParleyServer(assistant, ServeOptions(host="127.0.0.1", port=0, token=token))
    server.start_thread()
    return server


@pytest.fixture(scope="module")
def served(assistant):
    server = serve(assistant, auth.load_or_create_token())
    yield Served(server, auth.load_or_create_token())
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(served):
    return openai.OpenAI(
        base_url=served.server.url, api_key=served.token, max_retries=0, timeout=120
    )


def raw(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    token: str | None = None,
):
    """One request with exactly these headers: (status, headers, parsed JSON or bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            sent.setdefault("Content-Length", str(len(body)))
        for key, value in sent.items():
            connection.putheader(key, value)
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
        return response.status, response, data
    finally:
        connection.close()


def assert_error(data, code: str | None = None):
    assert set(data) == {"error"}, data
    assert set(data["error"]) >= {"message", "type", "code"}
    assert data["error"]["message"] and "Traceback" not in data["error"]["message"]
    if code is not None:
        assert data["error"]["code"] == code, data


# -- the OpenAI API, through the official client ------------------------------------


def test_models_lists_the_loaded_llm_stt_and_voice(client, assistant):
    ids = {model.id for model in client.models.list()}
    assert ids == {"SmolLM2-135M-Instruct.Q4_1", "whisper-tiny.en", "en_US-joe-medium"}
    assert client.models.retrieve("whisper-tiny.en").owned_by == "parley"


def test_chat_answers_and_counts_tokens(client):
    done = client.chat.completions.create(
        model="anything", messages=CAPITAL, temperature=0, max_tokens=40
    )
    answer = done.choices[0].message
    assert "Paris" in answer.content
    assert "<think>" not in answer.content and answer.content == answer.content.strip()
    assert done.object == "chat.completion" and done.model == "SmolLM2-135M-Instruct.Q4_1"
    assert done.usage.prompt_tokens > 5 and 0 < done.usage.completion_tokens <= 40
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_streamed_chat_joins_up_to_the_whole_reply(client):
    request = {"model": "x", "messages": CAPITAL, "temperature": 0, "max_tokens": 40}
    whole = client.chat.completions.create(**request).choices[0].message.content
    chunks = list(
        client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) > 3
    assert "".join(texts) == whole
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in {"stop", "length"} and not any(finishes[:-1])
    assert chunks[-1].usage.completion_tokens > 0


def test_request_sampling_does_not_change_the_defaults(client, assistant):
    before = assistant.llm.sampling
    done = client.chat.completions.create(
        model="x", messages=CAPITAL, max_completion_tokens=3, temperature=0.9, top_p=0.5
    )
    assert done.choices[0].finish_reason == "length"
    assert done.usage.completion_tokens == 3
    assert assistant.llm.sampling == before


def test_spoken_wav_is_transcribed(client, assistant, say):
    question = say("What is the capital of France?", "serve-capital")
    with open(question, "rb") as audio:
        heard = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert {"capital", "france"} <= set(words(heard.text))
    assert heard.text == assistant.stt.transcribe(load_audio(question))  # the same model
    with open(question, "rb") as audio:
        text = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="text"
        )
    assert text.strip() == heard.text


def test_speech_comes_back_as_the_same_words(client, assistant, tmp_path):
    # Piper varies every rendering: judge the word error rate over all sentences.
    sentences = [
        "The garden looks lovely in the morning.",
        "Turn off the lights in the kitchen.",
        "How far away is the moon from the earth?",
    ]
    pairs = []
    for n, sentence in enumerate(sentences):
        spoken = client.audio.speech.create(model="tts-1", voice="alloy", input=sentence)
        path = tmp_path / f"{n}.wav"
        path.write_bytes(spoken.content)
        with wave.open(str(path)) as wav:
            assert wav.getframerate() == assistant.tts.sample_rate
            assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        pairs.append((sentence, assistant.stt.transcribe(load_audio(path))))
    assert word_error_rate(pairs) <= 0.2, pairs

    pcm = client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="pcm"
    )
    samples = np.frombuffer(pcm.content, dtype="<i2")
    assert len(pcm.content) % 2 == 0 and samples.size > assistant.tts.sample_rate // 4
    assert pcm.response.headers["x-sample-rate"] == str(assistant.tts.sample_rate)


def test_two_chats_at_once_both_answer(client):
    def ask(question: str) -> str:
        messages = [{"role": "user", "content": question}]
        done = client.chat.completions.create(
            model="x", messages=messages, temperature=0, max_tokens=24
        )
        return done.choices[0].message.content

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(ask, ["Name a colour.", "Name an animal."]))
    assert all(answer.strip() for answer in answers), answers


# -- security ----------------------------------------------------------------------------


def test_no_token_is_401(served):
    status, response, data = raw(served.port, "GET", "/v1/models")
    assert status == 401 and response.getheader("WWW-Authenticate") == "Bearer"
    assert_error(data, "missing_api_key")
    assert "--show-token" in data["error"]["message"]


def test_wrong_token_is_401(served):
    status, _, data = raw(served.port, "GET", "/v1/models", token=served.token[:-1] + "x")
    assert status == 401
    assert_error(data, "invalid_api_key")
    status, _, _ = raw(
        served.port, "GET", "/v1/models", headers={"Authorization": f"Basic {served.token}"}
    )
    assert status == 401
    wrong = openai.OpenAI(base_url=served.server.url, api_key="not-the-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_foreign_host_is_403(served):
    for host in (f"evil.example:{served.port}", "127.0.0.1:1", "localhost"):
        status, _, data = raw(
            served.port, "GET", "/v1/models", headers={"Host": host}, token=served.token
        )
        assert status == 403, host
        assert_error(data, "forbidden_host")
    for host in (f"localhost:{served.port}", f"LOCALHOST:{served.port}"):
        status, _, _ = raw(
            served.port, "GET", "/v1/models", headers={"Host": host}, token=served.token
        )
        assert status == 200, host


def test_foreign_origin_is_403(served):
    for origin in ("http://evil.example", f"http://evil.example:{served.port}", "null"):
        status, _, data = raw(
            served.port, "GET", "/v1/models", headers={"Origin": origin}, token=served.token
        )
        assert status == 403, origin
        assert_error(data, "forbidden_origin")
    origin = f"http://localhost:{served.port}"
    status, _, _ = raw(
        served.port, "GET", "/v1/models", headers={"Origin": origin}, token=served.token
    )
    assert status == 200


def test_refusals_come_before_any_model_work(served):
    # With the LLM busy, a chat request would wait; a refused one is answered at once.
    body = json.dumps({"model": "x", "messages": CAPITAL}).encode()
    with served.server.locks.llm:
        for headers, token, expected in (
            ({"Host": f"evil.example:{served.port}"}, served.token, 403),
            ({"Origin": "http://evil.example"}, served.token, 403),
            ({}, None, 401),
            ({}, "wrong", 401),
        ):
            headers = {**headers, "Content-Type": "application/json"}
            status, _, _ = raw(
                served.port, "POST", "/v1/chat/completions", headers, body, token=token
            )
            assert status == expected


def test_no_auth_is_refused_off_loopback_before_anything_listens(monkeypatch):
    def must_not_load(*args, **kwargs):
        raise AssertionError("models loaded before the address was checked")

    monkeypatch.setattr("desktop.commands.serve.load_assistant", must_not_load)
    parser = argparse.ArgumentParser(prog="parley")
    add_parser(parser.add_subparsers(dest="command"))
    for host in ("0.0.0.0", "192.168.1.10", "::", "my-laptop.local"):
        args = parser.parse_args(["serve", "--host", host, "--no-auth", "--port", "0"])
        with pytest.raises(ParleyError, match="--no-auth") as refused:
            run_serve(args)
        assert "\n" not in refused.value.one_line() and host in refused.value.one_line()
    with pytest.raises(ParleyError, match="--no-auth"):  # the server itself refuses too
        ParleyServer(None, ServeOptions(host="0.0.0.0", port=0, token=None))


def test_no_auth_on_loopback_needs_no_token(assistant):
    server = serve(assistant, token=None)
    try:
        status, _, data = raw(server.port, "GET", "/v1/models")
        assert status == 200 and data["object"] == "list"
        status, _, _ = raw(server.port, "GET", "/v1/models", {"Host": f"evil:{server.port}"})
        assert status == 403  # rebinding is refused even without a token
    finally:
        server.shutdown()
        server.server_close()


def test_token_file_is_private_and_kept(served, capsys, tmp_path):
    path = auth.token_path()
    assert path.read_text().strip() == served.token and len(served.token) >= 40
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.load_or_create_token() == served.token  # a second start keeps it

    parser = argparse.ArgumentParser(prog="parley")
    add_parser(parser.add_subparsers(dest="command"))
    assert run_serve(parser.parse_args(["serve", "--show-token"])) == 0
    assert capsys.readouterr().out.strip() == served.token

    other = tmp_path / "config" / "serve-token"
    first = auth.load_or_create_token(other)
    assert first != served.token and auth.load_or_create_token(other) == first
    if os.name == "posix":
        assert stat.S_IMODE(other.stat().st_mode) == 0o600
        other.chmod(0o644)  # loosened by hand: tightened again, token kept
        assert auth.load_or_create_token(other) == first
        assert stat.S_IMODE(other.stat().st_mode) == 0o600


def test_oversized_body_is_413(served):
    status, response, data = raw(
        served.port,
        "POST",
        "/v1/chat/completions",
        {"Content-Type": "application/json", "Content-Length": str(2_000_000)},
        b"",
        token=served.token,
    )
    assert status == 413 and response.getheader("Connection") == "close"
    assert_error(data, "request_too_large")


# -- bad requests --------------------------------------------------------------------------


def test_malformed_json_is_400(served):
    status, _, data = raw(
        served.port,
        "POST",
        "/v1/chat/completions",
        {"Content-Type": "application/json"},
        b'{"messages": [',
        token=served.token,
    )
    assert status == 400
    assert_error(data, "invalid_json")
    assert data["error"]["type"] == "invalid_request_error"


def test_unknown_endpoint_and_method(served):
    status, _, data = raw(served.port, "GET", "/v1/embeddings", token=served.token)
    assert status == 404
    assert_error(data, "unknown_url")
    status, _, data = raw(served.port, "GET", "/v1/chat/completions", token=served.token)
    assert status == 405
    assert_error(data, "method_not_allowed")


def test_unsupported_speech_format_and_empty_input_are_400(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.", response_format="mp3")
    assert "wav, pcm" in refused.value.message
    with pytest.raises(openai.BadRequestError, match="input"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="  ")
    with pytest.raises(openai.BadRequestError, match="cannot read Chinese characters"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="你好，世界")


def test_unsupported_chat_options_are_400(client):
    with pytest.raises(openai.BadRequestError, match="stop"):
        client.chat.completions.create(model="x", messages=CAPITAL, stop=["."])
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model="x", messages=CAPITAL, temperature=5)


def test_silent_wav_is_400_with_the_reason(client):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(32000, dtype=np.int16).tobytes())
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(
            model="whisper-1", file=("quiet.wav", buffer.getvalue(), "audio/wav")
        )
    assert "quiet.wav is silent" in refused.value.message


def test_disconnect_mid_stream_stops_generation(served, client, caplog):
    caplog.set_level(logging.INFO, logger="desktop.serve.server")
    body = json.dumps(
        {
            "model": "x",
            "stream": True,
            "temperature": 0,
            "max_tokens": 1500,
            "messages": [{"role": "user", "content": "Count from one to one thousand in words."}],
        }
    ).encode()
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    connection.request(
        "POST",
        "/v1/chat/completions",
        body,
        {"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    assert response.status == 200
    while True:  # read until the model has written something: it is generating
        line = response.readline()
        assert line, "the stream ended before any text"
        if line.startswith(b"data: {") and json.loads(line[6:])["choices"][0]["delta"].get(
            "content"
        ):
            break
    response.close()  # the response holds the socket open until it is closed too
    connection.close()

    deadline = time.monotonic() + 60
    stopped = []
    while not stopped and time.monotonic() < deadline:
        stopped = [r for r in caplog.records if "generation stopped after" in r.getMessage()]
        time.sleep(0.1)
    assert stopped, "generation was not cancelled"
    made = int(stopped[0].getMessage().split("stopped after ")[1].split()[0])
    assert 0 < made < 1500, stopped[0].getMessage()
    assert served.server.locks.llm.acquire(timeout=30)
    served.server.locks.llm.release()
    done = client.chat.completions.create(model="x", messages=CAPITAL, max_tokens=20)
    assert done.choices[0].message.content


# -- reasoning, with a stand-in thinking model -----------------------------------------------


class ThinkingModel:
    """Writes its reasoning first, as DeepSeek-R1 distills do."""

    description = "thinker"
    prompt_opens_thought = False
    context_size = 2048

    def fit_messages(self, messages):
        return messages, 0

    def stream_reply(self, messages, cancel=None):
        yield from ["<thi", "nk>\nLet me ", "see.</th", "ink>\n\n", "The answer", " is four.", "\n"]


def test_reasoning_never_reaches_the_content():
    models = {"llm": "/models/thinker.gguf", "stt": None, "tts": None}
    fake = Assistant(ThinkingModel(), None, None, "", models=models)
    token = "t" * 32
    server = serve(fake, token)
    try:
        thinker = openai.OpenAI(base_url=server.url, api_key=token, max_retries=0)
        done = thinker.chat.completions.create(model="thinker", messages=CAPITAL)
        message = done.choices[0].message
        assert message.content == "The answer is four."
        assert message.model_extra["reasoning_content"] == "Let me see."
        chunks = list(thinker.chat.completions.create(model="x", messages=CAPITAL, stream=True))
        deltas = [c.choices[0].delta for c in chunks]
        assert "".join(d.content or "" for d in deltas) == "The answer is four."
        thought = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
        assert thought == "Let me see."
    finally:
        server.shutdown()
        server.server_close()
