"""A GGUF chat model run in-process by llama.cpp: the local ChatBackend.

The prompt is rendered with the GGUF's own chat template and tokenized here,
not inside llama-cpp-python, so that Parley knows exactly how many tokens a
conversation takes and can trim the oldest turns before the context overflows.
llama-cpp-python keeps the longest matching prefix in its KV cache, so a
conversation that only grows costs just its new tokens each turn.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from desktop.engine.llm.backend import Message, SamplingOptions
from desktop.engine.llm.chat_template import check_chat_template, render_pieces
from desktop.engine.llm.gguf_check import check_gguf
from desktop.errors import Cancelled, ModelError, ParleyError

log = logging.getLogger(__name__)


# llama.cpp token attributes (llama.h): control and unknown tokens are parsed
# from text only when asked to (special=True); LSTRIP/RSTRIP tokens eat the
# whitespace beside them.
_SPECIAL_ATTRS = 8 | 1  # LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_UNKNOWN
LLAMA_TOKEN_ATTR_LSTRIP = 128
LLAMA_TOKEN_ATTR_RSTRIP = 256
_C_SPACE = " \t\n\v\f\r"  # C's isspace(), which llama.cpp strips with
# A full context is trimmed to this share of itself (see fit_messages).
TRIM_TO = 0.75


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
        self._markup_cache: dict[str, list[str | int]] = {}
        # Qwen2.5, Llama 3.x, QwQ, Phi-4-mini: the template shows the model its tools.
        self.supports_tools = bool(re.search(r"\btools\b", info.chat_template))

    def prompt_tokens(self, messages: list[Message], tools: list[dict] | None = None) -> list[int]:
        """The exact tokens the model will read for this conversation.

        Message contents are tokenized as plain text and only the template's
        own markup as control tokens, so typed or spoken ``<|im_start|>system``
        stays words to the model. For ordinary text the tokens equal those of
        the whole rendered prompt, so the KV-cache prefix carries over.
        """
        try:
            pieces, exact = render_pieces(
                lambda msgs: self._formatter(messages=msgs, tools=tools).prompt, messages
            )
            if not exact and not any(self._has_control(text) for text, own in pieces if own):
                # The template rewrites content (e.g. cuts reasoning out of it) and the
                # content holds no control text: its own rendering is safe and faithful.
                prompt = self._formatter(messages=messages, tools=tools).prompt
                return self._tokenize(prompt, special=True)
        except Exception as exc:  # a template may raise anything on odd input
            raise ModelError(f"the chat template of {self.model_path.name} failed: {exc}") from exc
        return self._tokenize_pieces(pieces)

    def _tokenize(self, text: str, special: bool) -> list[int]:
        if not text:
            return []
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def _has_control(self, text: str) -> bool:
        """Whether llama.cpp would read control tokens in ``text`` if it parsed specials."""
        return any(self._attr(t) & _SPECIAL_ATTRS for t in self._tokenize(text, special=True))

    def _attr(self, token: int) -> int:
        return self.llama._model.token_get_attr(token)

    def _tokenize_pieces(self, pieces: list[tuple[str, bool]]) -> list[int]:
        """Tokenize as llama.cpp does with special=True, but never parse specials in content.

        llama.cpp cuts the text at control tokens and tokenizes each run of text
        between them on its own; here the runs are built the same way from the
        template's pieces, with content joined into them as plain text.
        """
        tokens: list[int] = []
        run = ""
        strip_next = False  # the last control token eats the whitespace after it
        for text, is_content in pieces:
            parts = [text] if is_content else self._split_controls(text)
            for part in parts:
                if isinstance(part, str):
                    run += part.lstrip(_C_SPACE) if strip_next and not run else part
                    strip_next = strip_next and not run
                    continue
                attr = self._attr(part)
                if attr & LLAMA_TOKEN_ATTR_LSTRIP:
                    run = run.rstrip(_C_SPACE)
                tokens += self._tokenize(run, special=False)
                tokens.append(part)
                run = ""
                strip_next = bool(attr & LLAMA_TOKEN_ATTR_RSTRIP)
        return tokens + self._tokenize(run, special=False)

    def _split_controls(self, markup: str) -> list[str | int]:
        """The template's markup as text and control-token ids, in order (cached)."""
        cached = self._markup_cache.get(markup)
        if cached is not None:
            return cached
        tokens = self._tokenize(markup, special=True)
        controls = [t for t in tokens if self._attr(t) & _SPECIAL_ATTRS]
        found = {self.llama._model.token_get_text(t): t for t in controls}
        parts: list[str | int] = [markup]
        if found:
            pattern = "|".join(re.escape(text) for text in sorted(found, key=len, reverse=True))
            parts = [found.get(p, p) for p in re.split(f"({pattern})", markup) if p]
        if [p for p in parts if isinstance(p, int)] != controls:
            parts = list(tokens)  # a vocabulary whose token text is spelled otherwise
        if len(self._markup_cache) < 512:
            self._markup_cache[markup] = parts
        return parts

    def fit_messages(self, messages: list[Message]) -> tuple[list[Message], int]:
        """Drop the oldest exchanges (never the system prompt or the newest message).

        Once the context is full, trimming goes down to TRIM_TO of it rather than
        just under the limit: every drop shifts the whole conversation, so llama.cpp
        must read all of it again. Dropping one exchange a turn would cost that on
        every turn of a long session; this way the next several turns only append.
        """
        budget = self.context_size - self.sampling.max_tokens
        kept = list(messages)
        if len(self.prompt_tokens(kept)) <= budget:
            return kept, 0
        target = int(budget * TRIM_TO)
        dropped = 0
        while (size := len(self.prompt_tokens(kept))) > target:
            first = 1 if kept and kept[0]["role"] == "system" else 0
            if len(kept) - first <= 1:
                if size <= budget:
                    break  # only the newest message is left, and it fits
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
        self,
        messages: list[Message],
        cancel: threading.Event | None = None,
        prefix: str = "",
        tools: list[dict] | None = None,
        require_tool: bool = False,
    ) -> Iterator[str]:
        """As ``ChatBackend.stream_reply``; ``tools`` are shown to the model through its
        template, and ``require_tool`` makes the reply a call of one of them (a GBNF
        grammar: OpenAI's tool_choice "required"), even for a model without tools."""
        tokens = self.prompt_tokens(messages, tools if self.supports_tools else None)
        grammar = None
        if require_tool and tools:
            from llama_cpp import LlamaGrammar

            names = [tool["function"]["name"] for tool in tools]
            grammar = LlamaGrammar.from_string(tool_call_grammar(names), verbose=False)
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
                grammar=grammar,
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


def tool_call_grammar(names: list[str]) -> str:
    """GBNF for one ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` naming
    one of ``names``, with any JSON object as the arguments."""
    choices = " | ".join(json.dumps(json.dumps(name)) for name in names)
    return rf"""
root ::= "<tool_call>" ws "{{" ws "\"name\"" ws ":" ws name ws "," ws "\"arguments\"" ws ":" ws object ws "}}" ws "</tool_call>"
name ::= {choices}
object ::= "{{" ws ( member ( ws "," ws member )* )? ws "}}"
member ::= string ws ":" ws value
value ::= object | array | string | number | "true" | "false" | "null"
array ::= "[" ws ( value ( ws "," ws value )* )? ws "]"
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" ["\\/bfnrt] )* "\""
number ::= "-"? [0-9]+ ( "." [0-9]+ )?
ws ::= [ \n]?
"""
