"""A chat model on a bigger machine, through the OpenAI-compatible chat API.

llama.cpp's llama-server, Ollama, vLLM and LM Studio all speak it, so Parley
uses the server that is already there instead of a protocol of its own. Only
text crosses the network; speech stays on this device. ``FallbackBackend``
puts the local model behind it: when the server is down, or dies in the
middle of a reply, the local model finishes the turn.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from desktop import netguard
from desktop.engine.llm.backend import ChatBackend, Message, SamplingOptions
from desktop.errors import Cancelled, ParleyError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0  # between two pieces of a streamed reply
RETRY_AFTER_S = 30.0  # a server that failed is not asked again for this long
CONTEXT_CHARS = 24_000  # the server's context is unknown: keep roughly 6k tokens of history


class RemoteError(ParleyError):
    """The inference server could not be reached, refused, or broke off."""


class BackendNotice(str):
    """Yielded by a backend among the reply's pieces: a notice for the user, not text."""


def api_base(url: str) -> str:
    """'http://host:8080', '…/v1' or '…/v1/' -> 'http://host:8080/v1'."""
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ParleyError(f"the remote URL {url!r} must start with http:// or https://")
    return base if base.endswith("/v1") else base + "/v1"


@dataclass
class RemoteBackend:
    """Streams replies from an OpenAI-compatible /v1/chat/completions endpoint."""

    url: str
    model: str = ""
    api_key: str = ""
    sampling: SamplingOptions = SamplingOptions()

    def __post_init__(self) -> None:
        self.base = api_base(self.url)
        self.prompt_opens_thought = False
        # The user configured this server: the offline guard lets it through, recorded.
        netguard.permit_url(self.base, f"the remote backend {self.base}")

    @property
    def description(self) -> str:
        return f"{self.model or 'default model'} at {self.base}"

    def _request(self, path: str, body: dict | None = None) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        return urllib.request.Request(self.base + path, data=data, headers=headers)

    def _open(self, request: urllib.request.Request, timeout: float):  # noqa: ANN202
        try:
            return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - user's URL
        except urllib.error.HTTPError as exc:
            raise RemoteError(
                f"the inference server at {self.base} refused: HTTP {exc.code} "
                f"{_server_message(exc)}",
                "check the remote model name and API key in the settings",
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(
                f"cannot reach the inference server at {self.base}: {reason}",
                "is the machine on and its server running?",
            ) from exc

    def health(self) -> list[str]:
        """The server's model ids; RemoteError when it does not answer."""
        with self._open(self._request("/models"), CONNECT_TIMEOUT_S) as response:
            try:
                listing = json.load(response)
            except ValueError as exc:
                raise RemoteError(f"{self.base}/models did not answer in JSON") from exc
        return [m.get("id", "") for m in listing.get("data", [])]

    def fit_messages(self, messages: list[Message]) -> tuple[list[Message], int]:
        """Keep the system prompt and the newest messages within a character budget."""
        kept = list(messages)
        dropped = 0
        first = 1 if kept and kept[0]["role"] == "system" else 0
        while sum(len(m["content"]) for m in kept) > CONTEXT_CHARS and len(kept) - first > 1:
            del kept[first]
            dropped += 1
        return kept, dropped

    def stream_reply(
        self, messages: list[Message], cancel: threading.Event | None = None, prefix: str = ""
    ) -> Iterator[str]:
        body = {
            "messages": messages,
            "stream": True,
            "max_tokens": self.sampling.max_tokens,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
        }
        if self.model:
            body["model"] = self.model
        response = self._open(self._request("/chat/completions", body), CONNECT_TIMEOUT_S)
        try:
            response.fp.raw._sock.settimeout(READ_TIMEOUT_S)  # type: ignore[union-attr]
        except AttributeError:
            pass
        thinking = False
        try:
            for piece in _sse_pieces(response, self.base):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("stopped")
                delta = piece.get("reasoning_content") or piece.get("reasoning") or ""
                if delta and not thinking:
                    thinking, delta = True, "<think>" + delta
                content = piece.get("content") or ""
                if content and thinking:
                    thinking, content = False, "</think>" + content
                if delta + content:
                    yield delta + content
        finally:
            response.close()


def _server_message(exc: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    error = detail.get("error", detail)
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    return f"({message[:160]})" if message else ""


def _sse_pieces(response, base: str) -> Iterator[dict]:  # noqa: ANN001
    """The ``delta`` of each streamed chunk; RemoteError if the stream breaks off."""
    finished = False
    try:
        for raw in response:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                finished = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            choices = chunk.get("choices") or [{}]
            if choices[0].get("finish_reason"):
                finished = True
            yield choices[0].get("delta") or {}
    except (TimeoutError, OSError) as exc:
        raise RemoteError(f"the inference server at {base} broke off: {exc}") from exc
    if not finished:
        raise RemoteError(f"the inference server at {base} stopped in the middle of the reply")


class FallbackBackend:
    """The remote model first; the local one when the remote fails.

    A failure before the first piece means the local model answers the whole
    turn; a failure in the middle means it carries on from what the remote
    already wrote. Either way a ``BackendNotice`` tells the user.
    """

    def __init__(self, remote: RemoteBackend, local: ChatBackend) -> None:
        self.remote = remote
        self.local = local
        self.answered_by: str | None = None
        self._down_until = 0.0
        self._down_reason = ""

    @property
    def description(self) -> str:
        return self.remote.description

    @property
    def prompt_opens_thought(self) -> bool:
        return self.answered_by == self.local.description and self.local.prompt_opens_thought

    @property
    def sampling(self) -> SamplingOptions:
        return self.remote.sampling

    @sampling.setter
    def sampling(self, options: SamplingOptions) -> None:
        self.remote.sampling = options
        self.local.sampling = options

    def fit_messages(self, messages: list[Message]) -> tuple[list[Message], int]:
        return self.local.fit_messages(messages)  # it may have to finish any turn

    def stream_reply(
        self, messages: list[Message], cancel: threading.Event | None = None
    ) -> Iterator[str]:
        written: list[str] = []
        if time.monotonic() < self._down_until:
            yield BackendNotice(f"{self._down_reason}; answering with the local model")
        else:
            self.answered_by = self.remote.description
            try:
                for piece in self.remote.stream_reply(messages, cancel):
                    written.append(piece)
                    yield piece
                return
            except RemoteError as exc:
                log.warning("remote failed: %s", exc.one_line())
                self._down_until = time.monotonic() + RETRY_AFTER_S
                self._down_reason = exc.message
                how = "finishing" if written else "answering"
                yield BackendNotice(f"{exc.message}; {how} with the local model")
        self.answered_by = self.local.description
        yield from self.local.stream_reply(messages, cancel, prefix="".join(written))
