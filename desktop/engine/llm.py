"""Chat models: the ChatBackend protocol and its llama.cpp implementation.

The prompt is rendered with the GGUF's own chat template and tokenized here,
not inside llama-cpp-python, so that Parley knows exactly how many tokens a
conversation takes and can trim the oldest turns before the context overflows.
llama-cpp-python keeps the longest matching prefix in its KV cache, so a
conversation that only grows costs just its new tokens each turn.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from desktop.engine.chat_template import check_chat_template
from desktop.engine.gguf_check import check_gguf
from desktop.errors import Cancelled, ModelError, ParleyError

log = logging.getLogger(__name__)

Message = dict[str, str]


@dataclass(frozen=True)
class SamplingOptions:
    """How replies are sampled; shared with bench/turn.py's direct call."""

    max_tokens: int = 200
    temperature: float = 0.6
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    seed: int = -1


class ChatBackend(Protocol):
    """Anything that streams a chat reply: a local model or, later, a remote server."""

    description: str
    prompt_opens_thought: bool

    def fit_messages(self, messages: list[Message]) -> tuple[list[Message], int]:
        """The messages trimmed to fit the context, and how many were dropped."""

    def stream_reply(
        self, messages: list[Message], cancel: threading.Event | None = None, prefix: str = ""
    ) -> Iterator[str]:
        """Yield the reply piece by piece; stop within one token once ``cancel`` is set.
        ``prefix``: the start of the reply, already written elsewhere, to carry on from."""


class LlamaCppBackend:
    """A GGUF chat model run in-process by llama.cpp."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        context_size: int = 2048,
        threads: int = 2,
        sampling: SamplingOptions | None = None,
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.model_path = Path(model_path)
        self.sampling = sampling or SamplingOptions()
        info = check_gguf(self.model_path)
        name = self.model_path.name
        if not info.chat_template:
            raise ModelError(
                f"{name} has no chat template: it is a base model, which continues text "
                "instead of answering",
                "choose an instruct or chat version of the model",
            )
        check_chat_template(info.chat_template, source=name)
        if self.sampling.max_tokens >= context_size:
            raise ModelError(f"max_tokens must be smaller than the context ({context_size})")
        try:
            self.llama = Llama(
                model_path=str(self.model_path),
                n_ctx=context_size,
                n_threads=threads,
                n_threads_batch=threads,
                seed=self.sampling.seed if self.sampling.seed >= 0 else 0xFFFFFFFF,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp could not load {name}: {exc}") from exc
        self.context_size = self.llama.n_ctx()
        self.description = str(self.model_path)
        self.prompt_opens_thought = False
        vocab = self.llama._model  # token texts for the template's bos/eos variables
        eos_id, bos_id = self.llama.token_eos(), self.llama.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=info.chat_template,
            eos_token=vocab.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=vocab.token_get_text(bos_id) if bos_id != -1 else "",
        )
        self._lock = threading.Lock()

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The exact tokens the model will read for this conversation."""
        try:
            prompt = self._formatter(messages=messages).prompt
        except Exception as exc:  # a template may raise anything on odd input
            raise ModelError(f"the chat template of {self.model_path.name} failed: {exc}") from exc
        return self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def fit_messages(self, messages: list[Message]) -> tuple[list[Message], int]:
        """Drop the oldest exchanges (never the system prompt or the newest message)."""
        budget = self.context_size - self.sampling.max_tokens
        kept = list(messages)
        dropped = 0
        while len(self.prompt_tokens(kept)) > budget:
            first = 1 if kept and kept[0]["role"] == "system" else 0
            if len(kept) - first <= 1:
                size = len(self.prompt_tokens(kept))
                raise ParleyError(
                    f"the message is too long for the model: {size} tokens, and the context "
                    f"holds {budget} besides the reply",
                    "say it in fewer words, or raise context_size in the settings",
                )
            del kept[first]
            dropped += 1
            if len(kept) - first > 1 and kept[first]["role"] == "assistant":
                del kept[first]
                dropped += 1
        return kept, dropped

    def warm(self, system_prompt: str) -> None:
        """Evaluate the system prompt now, so the first turn reuses it from the KV cache."""
        probe_a = [{"role": "system", "content": system_prompt}, {"role": "user", "content": "A"}]
        probe_b = [{"role": "system", "content": system_prompt}, {"role": "user", "content": "B"}]
        tokens_a, tokens_b = self.prompt_tokens(probe_a), self.prompt_tokens(probe_b)
        prefix = []
        for a, b in zip(tokens_a, tokens_b, strict=False):
            if a != b:
                break
            prefix.append(a)
        with self._lock:
            self.llama.create_completion(prefix or tokens_a, max_tokens=1, temperature=0.0)

    def stream_reply(
        self, messages: list[Message], cancel: threading.Event | None = None, prefix: str = ""
    ) -> Iterator[str]:
        tokens = self.prompt_tokens(messages)
        if prefix:  # carry on a reply another backend began (see remote.FallbackBackend)
            tokens += self.llama.tokenize(prefix.encode("utf-8"), add_bos=False, special=False)
        prompt_text = self.llama.detokenize(tokens[-8:], special=True).decode("utf-8", "ignore")
        self.prompt_opens_thought = prompt_text.rstrip().endswith("<think>")
        if len(tokens) + self.sampling.max_tokens > self.context_size:
            raise ParleyError("the conversation does not fit the context; trim it first")
        options = self.sampling
        with self._lock:
            stream = self.llama.create_completion(
                tokens,
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                top_p=options.top_p,
                repeat_penalty=options.repeat_penalty,
                stream=True,
            )
            try:
                for chunk in stream:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("stopped")
                    text = chunk["choices"][0]["text"]
                    if text:
                        yield text
            finally:
                stream.close()
