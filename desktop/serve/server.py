"""``parley serve``'s HTTP server: the OpenAI API over the loaded Assistant.

Standard library only. Every request is checked (Host, Origin, token, size)
before any model work. Each model serves one request at a time, behind its own
lock: on a small CPU two generations at once would only both be slow, so
others wait their turn instead of being refused. A client that disconnects
stops its generation, whether it is writing or still waiting.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import select
import socket
import socketserver
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from desktop.engine.audio.samples import load_audio
from desktop.engine.conversation.turn import Assistant
from desktop.errors import Cancelled, ParleyError
from desktop.serve import auth
from desktop.serve.chat import Reply, prompt_token_count, sampling_for
from desktop.serve.multipart import MultipartError, content_type_boundary, parse_form
from desktop.serve.openai_api import (
    TRANSCRIPTION_FORMATS,
    ApiError,
    ChatRequest,
    chunk_body,
    completion_body,
    completion_id,
    error_body,
    model_ids,
    models_body,
    parse_chat_request,
    parse_json_object,
    parse_speech_request,
    usage,
)

log = logging.getLogger(__name__)

JSON_LIMIT = 1_000_000
AUDIO_LIMIT = 25_000_000
ERROR_CODES = {"AudioError": "invalid_audio", "ModelError": "model_error"}
LINGER_SECONDS = 2.0  # read what a refused client still sends, so our answer is not lost


@dataclass(frozen=True)
class ServeOptions:
    """Where to listen and who may ask. ``token=None`` means no auth (loopback only)."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    json_limit: int = JSON_LIMIT
    audio_limit: int = AUDIO_LIMIT


@dataclass
class ModelLocks:
    """One request at a time per model; the others queue."""

    llm: threading.Lock = field(default_factory=threading.Lock)
    stt: threading.Lock = field(default_factory=threading.Lock)
    tts: threading.Lock = field(default_factory=threading.Lock)


class ClientGone(Exception):  # noqa: N818 - a condition, not a failure
    """The client closed its connection; there is no one left to answer."""


@contextlib.contextmanager
def held(lock: threading.Lock, cancel: threading.Event) -> Iterator[None]:
    """Wait for the model's lock; give up if the client leaves the queue."""
    while not lock.acquire(timeout=0.1):
        if cancel.is_set():
            raise ClientGone
    try:
        yield
    finally:
        lock.release()


class DisconnectWatch:
    """Sets ``cancel`` when the client closes the connection, even while the server is
    not writing to it (waiting for a lock, generating reasoning, or a whole non-streamed
    reply): a closed socket reads as end-of-file."""

    def __init__(self, sock: socket.socket, cancel: threading.Event) -> None:
        self.sock = sock
        self.cancel = cancel
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-serve-watch", daemon=True)

    def __enter__(self) -> DisconnectWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                readable, _, _ = select.select([self.sock], [], [], 0.1)
                if readable:
                    if not self.sock.recv(1, socket.MSG_PEEK):
                        self.cancel.set()
                        return
                    self._done.wait(0.1)  # the client's next request, not a goodbye
            except (OSError, ValueError):  # reset by the peer, or already closed
                self.cancel.set()
                return


class ParleyServer(ThreadingHTTPServer):
    """The API server. Binding happens at once (a taken port fails early); listening
    starts with ``activate()``, once the models are loaded."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, assistant: Assistant | None, options: ServeOptions, activate: bool = True
    ) -> None:
        if options.token is None:
            auth.check_no_auth_allowed(options.host)
        self.options = options
        self.locks = ModelLocks()
        self.address_family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
        super().__init__((options.host.strip("[]"), options.port), ApiHandler, False)
        try:
            self.server_bind()
        except OSError as exc:
            self.server_close()
            raise ParleyError(
                f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}",
                "choose another --port, or stop the program using it",
            ) from exc
        self.port = int(self.server_address[1])
        self.allowed_hosts = auth.allowed_hosts(options.host.strip("[]"), self.port)
        self.allowed_origins = auth.allowed_origins(self.port)
        self.model_ids: dict[str, str] = {}
        if assistant is not None:
            self.attach(assistant)
        if activate:
            self.activate()

    def attach(self, assistant: Assistant) -> None:
        """The models to serve; before ``activate()``, as no request may come without them."""
        self.assistant = assistant
        self.model_ids = model_ids(assistant.models)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the name up in DNS, which can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.options.host
        self.server_port = self.server_address[1]

    def activate(self) -> None:
        """Start accepting connections."""
        if not hasattr(self, "assistant"):
            raise RuntimeError("attach() the assistant before activate()")
        self.server_activate()

    @property
    def url(self) -> str:
        host = self.options.host.strip("[]")
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/v1"

    def start_thread(self) -> threading.Thread:
        """Serve on a background thread (tests, embedding); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="parley-serve", daemon=True)
        thread.start()
        return thread


Route = Callable[["ApiHandler", list[str]], None]


class ApiHandler(BaseHTTPRequestHandler):
    """One connection: keep-alive HTTP/1.1, JSON in and out, SSE for streamed chat."""

    protocol_version = "HTTP/1.1"
    server_version = "Parley"
    timeout = 120  # an idle keep-alive connection is dropped after this
    server: ParleyServer
    # Per request, set by _reset(); defaults for errors the base class raises before it.
    _status: int | str = "-"
    _linger = False
    _streaming = False
    _chunked = False
    _body_pending = False

    # -- plumbing ------------------------------------------------------------

    def version_string(self) -> str:
        return self.server_version  # no Python version for strangers

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, self.client_address[0], *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self._status = code  # logged once the response is complete

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the base class finds (bad request line, huge headers): JSON, not HTML."""
        self.close_connection = True
        self._body_pending = False
        self._send_json(code, error_body(code, message or self.responses.get(code, ("",))[0]))

    def handle_expect_100(self) -> bool:
        """Refuse before the client sends a body we would not take."""
        self._reset()
        try:
            self._check_access()
            length = self._declared_length()
            if length is not None and length > self._limit():
                raise ApiError(413, self._too_large_message(), "request_too_large")
        except ApiError as exc:
            self._body_pending = False  # the client waits for us and sends nothing
            self.close_connection = True
            self._send_json(exc.status, exc.body())
            return False
        return super().handle_expect_100()

    def _reset(self) -> None:
        self._status = "-"
        self._linger = False
        self._streaming = False
        self._chunked = False
        self._body_pending = bool(
            self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0") != "0"
        )

    def do_GET(self) -> None:  # noqa: N802 - the base class's naming
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET  # noqa: N815

    def _dispatch(self) -> None:
        started = time.perf_counter()
        self._reset()
        path = unquote(urlsplit(self.path).path).rstrip("/")
        try:
            self._check_access()
            route, args = self._route(path)
            route(self, args)
        except ApiError as exc:
            self._fail(exc)
        except ClientGone:
            self.close_connection = True
        except ParleyError as exc:
            self._fail(ApiError(400, exc.one_line(), ERROR_CODES.get(type(exc).__name__)))
        except Exception:  # a bug: the details go to the log, never to the client
            log.exception("%s %s failed", self.command, path)
            self._fail(ApiError(500, "the server failed; details are in the Parley log"))
        finally:
            if self._linger:
                self._lingering_close()
            log.info(
                "%s %s %s -> %s in %.0f ms",
                self.client_address[0],
                self.command,
                path,
                self._status,
                (time.perf_counter() - started) * 1000,
            )

    def _route(self, path: str) -> tuple[Route, list[str]]:
        method = "GET" if self.command == "HEAD" else self.command
        if path.startswith("/v1/models/") and len(path) > len("/v1/models/"):
            routes, args = {"GET": ApiHandler._model}, [path[len("/v1/models/") :]]
        else:
            routes, args = ROUTES.get(path), []
            if routes is None:
                raise ApiError(404, f"no such endpoint: {path or '/'}", "unknown_url")
        route = routes.get(method)
        if route is None:
            raise ApiError(
                405, f"{path} takes {', '.join(routes)}, not {self.command}", "method_not_allowed"
            )
        return route, args

    # -- security: before anything else ------------------------------------------

    def _check_access(self) -> None:
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0].strip().lower() not in self.server.allowed_hosts:
            raise ApiError(
                403,
                f"the Host header {', '.join(hosts) or '(none)'} does not name this server; "
                f"use http://127.0.0.1:{self.server.port} or http://localhost:{self.server.port}",
                "forbidden_host",
            )
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() not in self.server.allowed_origins:
            raise ApiError(
                403, f"requests from the web origin {origin} are not allowed", "forbidden_origin"
            )
        token = self.server.options.token
        if token is None:
            return
        header = self.headers.get("Authorization")
        if not header:
            raise ApiError(
                401,
                "an API token is required: send Authorization: Bearer TOKEN "
                "(parley serve --show-token prints it)",
                "missing_api_key",
            )
        if not auth.bearer_matches(header, token):
            raise ApiError(401, "the API token is not valid", "invalid_api_key")

    # -- bodies --------------------------------------------------------------------

    def _limit(self) -> int:
        path = urlsplit(self.path).path.rstrip("/")
        options = self.server.options
        return options.audio_limit if path == "/v1/audio/transcriptions" else options.json_limit

    def _too_large_message(self) -> str:
        return f"the request body is larger than this endpoint takes ({self._limit():,} bytes)"

    def _declared_length(self) -> int | None:
        """Content-Length, or None for a chunked body; refuses ambiguous framing."""
        encoding = self.headers.get("Transfer-Encoding")
        length = self.headers.get("Content-Length")
        if encoding is not None:
            if length is not None or encoding.strip().lower() != "chunked":
                self._linger = True
                raise ApiError(400, "unsupported body framing (Transfer-Encoding)")
            return None
        try:
            value = int(length or "0")
        except ValueError:
            value = -1
        if value < 0:
            self._linger = True
            raise ApiError(400, "Content-Length is not a valid number")
        return value

    def _read_body(self) -> bytes:
        limit = self._limit()
        length = self._declared_length()
        if length is None:
            body = self._read_chunked(limit)
        elif length > limit:
            raise ApiError(413, self._too_large_message(), "request_too_large")
        else:
            body = self.rfile.read(length)
            if len(body) < length:
                raise ClientGone
        self._body_pending = False
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self._linger = True
                raise ApiError(400, "the chunked request body is malformed") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise ApiError(413, self._too_large_message(), "request_too_large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _settle_body(self) -> None:
        """Before answering, the request's body must be gone from the socket: drained
        when it is small enough, else the connection closes after a lingering read
        (closing with unread data would reset it, losing our answer)."""
        if not self._body_pending:
            return
        self._body_pending = False
        with contextlib.suppress(ApiError):
            length = self._declared_length()
            if length is not None and length <= self._limit():
                with contextlib.suppress(OSError):
                    if len(self.rfile.read(length)) == length:
                        return
        self._linger = True

    def _lingering_close(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.connection.recv(65536):
                pass

    # -- responses -----------------------------------------------------------------

    def _begin(self, status: int, content_type: str, headers: dict[str, str]) -> None:
        self._settle_body()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in headers.items():
            self.send_header(key, value)
        if self._linger or self.close_connection:
            self.send_header("Connection", "close")

    def _send_bytes(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self._begin(status, content_type, {**(headers or {}), "Content-Length": str(len(body))})
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        self._send_bytes(status, body, "application/json", headers)

    def _fail(self, error: ApiError) -> None:
        if self._streaming:  # headers are gone: tell the client inside the stream
            with contextlib.suppress(OSError):
                self._send_event(error.body())
                self._end_stream()
            return
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
        with contextlib.suppress(OSError):
            self._send_json(error.status, error.body(), headers)

    def _start_stream(self) -> None:
        self._chunked = self.request_version == "HTTP/1.1"
        if not self._chunked:
            self.close_connection = True  # HTTP/1.0: the end of the stream is the close
        headers = {"Cache-Control": "no-cache"}
        if self._chunked:
            headers["Transfer-Encoding"] = "chunked"
        self._begin(200, "text/event-stream; charset=utf-8", headers)
        self.end_headers()
        self._streaming = True

    def _send_event(self, data: object) -> None:
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        payload = f"data: {text}\n\n".encode()
        if self._chunked:
            payload = f"{len(payload):X}\r\n".encode() + payload + b"\r\n"
        self.wfile.write(payload)

    def _end_stream(self) -> None:
        self._send_event("[DONE]")
        if self._chunked:
            self.wfile.write(b"0\r\n\r\n")

    # -- endpoints -------------------------------------------------------------------

    def _models(self, args: list[str]) -> None:
        self._send_json(200, models_body(self.server.assistant.models))

    def _model(self, args: list[str]) -> None:
        for entry in models_body(self.server.assistant.models)["data"]:
            if entry["id"] == args[0]:
                self._send_json(200, entry)
                return
        raise ApiError(404, f"no model {args[0]!r} is loaded", "model_not_found", "model")

    def _chat(self, args: list[str]) -> None:
        assistant = self.server.assistant
        llm = assistant.llm
        request = parse_chat_request(
            parse_json_object(self._read_body()), getattr(llm, "context_size", 1 << 20)
        )
        messages = request.messages
        if assistant.system_prompt and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": assistant.system_prompt}, *messages]
        cancel = threading.Event()
        with (
            DisconnectWatch(self.connection, cancel),
            held(self.server.locks.llm, cancel),
            sampling_for(
                llm, request.max_tokens, request.temperature, request.top_p
            ) as restore_sampling,
        ):
            try:
                fitted, dropped = llm.fit_messages(messages)
            except ParleyError as exc:
                code = "context_length_exceeded" if "too long" in exc.message else None
                raise ApiError(400, exc.one_line(), code, "messages") from exc
            if dropped:
                log.info("dropped the %d oldest messages to fit the context", dropped)
            reply = Reply(llm, fitted, cancel, on_end=restore_sampling)
            try:
                if request.stream:
                    self._stream_chat(request, reply, prompt_token_count(llm, fitted), cancel)
                else:
                    self._whole_chat(reply, prompt_token_count(llm, fitted))
            except Cancelled:
                log.info(
                    "the client went away; generation stopped after %d of at most %s tokens",
                    reply.tokens,
                    reply.max_tokens,
                )
                raise ClientGone from None

    def _whole_chat(self, reply: Reply, prompt_tokens: int) -> None:
        content: list[str] = []
        reasoning: list[str] = []
        for is_reasoning, text in reply:
            (reasoning if is_reasoning else content).append(text)
        body = completion_body(
            completion_id(),
            self.server.model_ids.get("llm", "parley"),
            "".join(content),
            "".join(reasoning),
            reply.finish_reason,
            usage(prompt_tokens, reply.tokens),
        )
        self._send_json(200, body)

    def _stream_chat(
        self, request: ChatRequest, reply: Reply, prompt_tokens: int, cancel: threading.Event
    ) -> None:
        ident, model = completion_id(), self.server.model_ids.get("llm", "parley")
        pieces = iter(reply)
        try:
            self._start_stream()
            self._send_event(chunk_body(ident, model, {"role": "assistant", "content": ""}))
            for is_reasoning, text in pieces:
                key = "reasoning_content" if is_reasoning else "content"
                self._send_event(chunk_body(ident, model, {key: text}))
            self._send_event(chunk_body(ident, model, {}, reply.finish_reason))
            if request.include_usage:
                counts = usage(prompt_tokens, reply.tokens)
                self._send_event(chunk_body(ident, model, {}, usage_counts=counts))
            self._end_stream()
        except OSError:  # broken pipe or reset: the client left mid-stream
            cancel.set()
            raise Cancelled("the client disconnected") from None
        finally:
            pieces.close()  # type: ignore[attr-defined]

    def _transcribe(self, args: list[str]) -> None:
        stt = self.server.assistant.stt
        boundary = content_type_boundary(self.headers.get("Content-Type", ""))
        if boundary is None:
            raise ApiError(400, "send the audio as multipart/form-data with a file field")
        try:
            form = parse_form(self._read_body(), boundary)
            upload = form.get("file")
            fmt = form["response_format"].text() if "response_format" in form else "json"
        except MultipartError as exc:
            raise ApiError(400, str(exc)) from exc
        if upload is None:
            raise ApiError(400, "the form has no file field with the audio", param="file")
        if fmt not in TRANSCRIPTION_FORMATS:
            raise ApiError(
                400,
                f"response_format {fmt!r} is not supported; use one of: "
                f"{', '.join(TRANSCRIPTION_FORMATS)}",
                param="response_format",
            )
        if stt is None:
            raise ApiError(500, "no speech-to-text model is loaded")
        name = safe_filename(upload.filename)
        with tempfile.TemporaryDirectory(prefix="parley-serve-") as folder:
            path = Path(folder) / name
            path.write_bytes(upload.value)
            audio = load_audio(path)  # any format PyAV reads; AudioError is a 400
        cancel = threading.Event()
        with DisconnectWatch(self.connection, cancel), held(self.server.locks.stt, cancel):
            text = stt.transcribe(audio, source=name)
        if fmt == "text":
            self._send_bytes(200, f"{text}\n".encode(), "text/plain; charset=utf-8")
        else:
            self._send_json(200, {"text": text})

    def _speech(self, args: list[str]) -> None:
        tts = self.server.assistant.tts
        request = parse_speech_request(parse_json_object(self._read_body()))
        if tts is None:
            raise ApiError(500, "no voice is loaded")
        cancel = threading.Event()
        with DisconnectWatch(self.connection, cancel), held(self.server.locks.tts, cancel):
            audio = tts.synthesize(request.text, cancel)
            tts.release_memory()
        if audio.size == 0:
            why = tts.cannot_read(request.text) or "nothing in the input can be spoken"
            raise ApiError(400, why, param="input")
        pcm = np.asarray(audio, dtype="<i2").tobytes()
        rate = {"X-Sample-Rate": str(tts.sample_rate)}
        if request.response_format == "pcm":
            self._send_bytes(200, pcm, "audio/pcm", rate)
        else:
            self._send_bytes(200, wav_bytes(pcm, tts.sample_rate), "audio/wav", rate)


ROUTES: dict[str, dict[str, Route]] = {
    "/v1/models": {"GET": ApiHandler._models},
    "/v1/chat/completions": {"POST": ApiHandler._chat},
    "/v1/audio/transcriptions": {"POST": ApiHandler._transcribe},
    "/v1/audio/speech": {"POST": ApiHandler._speech},
}


def safe_filename(name: str | None) -> str:
    """The upload's own name for messages ("question.wav is silent"), never a path."""
    base = Path((name or "").replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")[:100]
    return base or "audio"


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()
