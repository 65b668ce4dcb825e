"""The OpenAI wire format: request checking, response shapes and errors.

Only what Parley can honour is accepted. A parameter that would change the
answer but that Parley cannot do (tools, stop sequences, several choices) is a
400, never silently ignored; harmless ones (``user``, ``seed``…) are ignored,
as other OpenAI-compatible servers do.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.library import registry

Message = dict[str, str]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    411: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    500: "server_error",
}
SPEECH_FORMATS = ("wav", "pcm")
TRANSCRIPTION_FORMATS = ("json", "text")
MAX_SPEECH_INPUT = 4096  # characters, as OpenAI's own limit
CHAT_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ApiError(Exception):
    """A request that gets an OpenAI-shaped error response instead of a result."""

    def __init__(
        self, status: int, message: str, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param)


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """``{"error": {...}}`` as OpenAI sends it."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid_json") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    return data


def _number(
    data: dict[str, Any], name: str, low: float, high: float, integer: bool = False
) -> float | int | None:
    value = data.get(name)
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        what = "an integer" if integer else "a number"
        raise ApiError(400, f"{name} must be {what} from {low:g} to {high:g}", param=name)
    return value


def _text_content(content: object, index: int) -> str:
    """A message's text: a string, or a list of ``{"type": "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ApiError(
                    400,
                    f"messages[{index}]: only text content is supported, not {kind}",
                    param="messages",
                )
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise ApiError(400, f"messages[{index}].content must be a string", param="messages")


@dataclass(frozen=True)
class ChatRequest:
    messages: list[Message]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float | None
    top_p: float | None


def parse_chat_request(data: dict[str, Any], context_size: int) -> ChatRequest:
    raw = data.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    messages: list[Message] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ApiError(400, f"messages[{index}] must be an object", param="messages")
        role = CHAT_ROLES.get(str(item.get("role")))
        if role is None:
            raise ApiError(
                400,
                f"messages[{index}]: role {item.get('role')!r} is not supported "
                f"(use {', '.join(CHAT_ROLES)})",
                param="messages",
            )
        messages.append({"role": role, "content": _text_content(item.get("content"), index)})
    for name, refused in (
        ("tools", bool(data.get("tools"))),
        ("functions", bool(data.get("functions"))),
        ("stop", bool(data.get("stop"))),
        ("logprobs", bool(data.get("logprobs"))),
        ("n", data.get("n") not in (None, 1)),
    ):
        if refused:
            raise ApiError(400, f"{name} is not supported by Parley's server", param=name)
    limit = context_size - 1
    max_tokens = _number(data, "max_completion_tokens", 1, limit, integer=True)
    if max_tokens is None:
        max_tokens = _number(data, "max_tokens", 1, limit, integer=True)
    options = data.get("stream_options") or {}
    return ChatRequest(
        messages=messages,
        stream=bool(data.get("stream")),
        include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
        max_tokens=max_tokens,  # type: ignore[arg-type]
        temperature=_number(data, "temperature", 0.0, 2.0),
        top_p=_number(data, "top_p", 0.0, 1.0),
    )


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    response_format: str


def parse_speech_request(data: dict[str, Any]) -> SpeechRequest:
    text = data.get("input")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "input must be non-empty text", param="input")
    if len(text) > MAX_SPEECH_INPUT:
        raise ApiError(
            400, f"input is {len(text)} characters; the most is {MAX_SPEECH_INPUT}", param="input"
        )
    fmt = data.get("response_format") or "wav"
    if fmt not in SPEECH_FORMATS:
        raise ApiError(
            400,
            f"response_format {fmt!r} is not supported; use one of: {', '.join(SPEECH_FORMATS)}",
            param="response_format",
        )
    return SpeechRequest(text, fmt)


def completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    ident: str,
    model: str,
    content: str,
    reasoning: str,
    finish_reason: str,
    usage_counts: dict[str, int],
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage_counts,
    }


def chunk_body(
    ident: str,
    model: str,
    delta: dict[str, str],
    finish_reason: str | None = None,
    usage_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; the usage chunk has no choices, as OpenAI sends it."""
    body: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": []
        if usage_counts
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage_counts:
        body["usage"] = usage_counts
    return body


def _created(path: str | None) -> int:
    try:
        return int(Path(path).stat().st_mtime) if path else 0
    except OSError:
        return 0


def model_names(models: dict[str, str | None]) -> dict[str, str]:
    """Plain names per role: the GGUF's stem, the whisper model's name ("tiny.en" for the
    starter, whose folder is just "model"), the voice's name."""
    names: dict[str, str] = {}
    llm = models.get("llm")
    if llm:
        names["llm"] = Path(llm).stem if llm.lower().endswith(".gguf") else llm
    stt = models.get("stt")
    if stt:
        names["stt"] = Path(stt).name
        for entry in registry.starter_models():
            if entry.role == "stt" and Path(entry.path) == Path(stt):
                names["stt"] = entry.name
    tts = models.get("tts")
    if tts:
        names["tts"] = Path(tts).stem
    return names


def model_ids(models: dict[str, str | None]) -> dict[str, str]:
    """The API's ids per role: model_names, with whisper's named as such."""
    ids = model_names(models)
    if "stt" in ids and "whisper" not in ids["stt"].lower():
        ids["stt"] = f"whisper-{ids['stt']}"
    return ids


def models_body(models: dict[str, str | None]) -> dict[str, Any]:
    data = [
        {
            "id": ident,
            "object": "model",
            "created": _created(models.get(role)),
            "owned_by": "parley",
        }
        for role, ident in model_ids(models).items()
    ]
    return {"object": "list", "data": data}
