"""Has the user finished? The chat model reads the words so far and says how likely
the sentence ends there.

Whisper's punctuation could not tell: it put a full stop after "What is the
capital" as readily as after "What is the capital of France", so a user who
paused to think was answered half a question (bench/voice_latency.py: 10 of
10 paused questions cut off). Smart Turn, which listens to the voice, called
most cut questions complete on the synthetic voices this can be tested with
(bench/smart_turn.py). The words themselves say a lot: after "What is the
capital" a model expects "of", after "What is the capital of France" it
expects "?". The same idea drives LiveKit's turn detector (a fine-tuned
SmolLM2); here the loaded chat model is used as it is, in a small context of
its own beside the conversation's (the weights are shared, the conversation's
KV cache is untouched).

The score is the model's probability that the next token ends the sentence
(".", "?", "!" or the end of the user's message), read after the user turn's
opening and the words, with whisper's trailing punctuation taken off.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np

from desktop.engine.audio.endpoint import Ending

log = logging.getLogger(__name__)

# Thresholds on the sentence-end probability (bench/turn_end.py, starter model): whole
# built-in questions scored 0.039-0.93, cut ones 0.000-0.068, where the highest cut
# ones are sentences in their own right ("What should I cook"); on the 25 everyday
# requests nothing was tuned on, whole 0.094-0.91, cut mostly under 0.002. A wrong
# "complete" cuts the user off, a wrong "unknown" makes them wait longer: the bar
# for "complete" sits above the cut ones'.
COMPLETE_FROM = 0.08
INCOMPLETE_BELOW = 0.002
MAX_TEXT_TOKENS = 96  # the end of a long utterance is what counts
CONTEXT_TOKENS = 256
TOO_SLOW_MS = 150.0  # a model this slow to score would hold up the endpoint: not used
_ENDERS = (".", "?", "!")


def strip_end(text: str) -> str:
    """The words without whisper's closing punctuation or an ellipsis."""
    return text.strip().rstrip(".?!…,;: ").strip()


def ending_of(probability: float | None) -> Ending:
    if probability is None:
        return Ending.UNKNOWN
    if probability >= COMPLETE_FROM:
        return Ending.COMPLETE
    if probability < INCOMPLETE_BELOW:
        return Ending.INCOMPLETE
    return Ending.UNKNOWN


def punctuation_ending(text: str) -> Ending:
    """Without a scorer: whisper's own punctuation, as before (complete or unknown)."""
    return Ending.COMPLETE if text.rstrip().endswith(_ENDERS) else Ending.UNKNOWN


class TurnEndScorer:
    """The sentence-end probability of a user's words, from a local GGUF chat model.

    ``backend`` is a LlamaCppBackend: its model, its chat template (the user
    turn's opening is found by rendering two one-word conversations and keeping
    what they share) and its tokenizer are used; the context is this object's own.
    Thread-safe: the hub's devices share one.
    """

    def __init__(self, backend: object, system_prompt: str, threads: int = 1) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaBatch, LlamaContext

        llama = backend.llama
        self._backend = backend
        self._lock = threading.Lock()
        opening, closing = _user_turn_markup(backend, system_prompt)
        if len(opening) + MAX_TEXT_TOKENS > CONTEXT_TOKENS:
            raise ValueError("the system prompt is too long to score turn ends beside it")
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = CONTEXT_TOKENS
        params.n_batch = params.n_ubatch = CONTEXT_TOKENS
        params.n_threads = params.n_threads_batch = threads
        self._ctx = LlamaContext(model=llama._model, params=params, verbose=False)
        self._batch = LlamaBatch(n_tokens=CONTEXT_TOKENS, embd=0, n_seq_max=1, verbose=False)
        self._n_vocab = llama.n_vocab()
        self._enders = np.array(sorted(_ender_tokens(llama, closing)), dtype=np.int64)
        self._opening = opening
        self._decode(opening, 0)
        self.last_ms = 0.0

    def _decode(self, tokens: list[int], n_past: int) -> None:
        self._batch.set_batch(tokens, n_past=n_past, logits_all=False)
        self._ctx.decode(self._batch)

    def probability(self, text: str) -> float | None:
        """How likely the sentence ends after ``text``; None when there are no words."""
        words = strip_end(text)
        if not any(ch.isalnum() for ch in words):
            return None
        tokens = self._backend.llama.tokenize(words.encode("utf-8"), add_bos=False, special=False)
        tokens = tokens[-MAX_TEXT_TOKENS:]
        started = time.perf_counter()
        with self._lock:
            self._ctx.kv_cache_seq_rm(0, len(self._opening), -1)
            self._decode(tokens, len(self._opening))
            pointer = self._ctx.get_logits_ith(-1)
            logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)
        self.last_ms = (time.perf_counter() - started) * 1000
        top = logits.max()
        log_total = top + math.log(float(np.exp(logits - top).sum()))
        return float(np.exp(logits[self._enders] - log_total).sum())

    def ending(self, text: str) -> Ending:
        return ending_of(self.probability(text))


def _user_turn_markup(backend: object, system_prompt: str) -> tuple[list[int], list[int]]:
    """The tokens before a user's words (system prompt and the user turn's opening)
    and the first tokens after them, as the model's own template renders them."""
    a = backend.prompt_tokens(
        [{"role": "system", "content": system_prompt}, {"role": "user", "content": "A"}]
    )
    b = backend.prompt_tokens(
        [{"role": "system", "content": system_prompt}, {"role": "user", "content": "B"}]
    )
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return a[:start], a[len(a) - end :]


def _ender_tokens(llama: object, closing: list[int]) -> set[int]:
    """Tokens that end a sentence: those whose text starts with . ? or !, the end of
    text, and the first token that closes the user's turn in the template."""
    enders = {t for t in range(llama.n_vocab()) if _starts_an_end(llama, t)}
    for token in (llama.token_eos(), *closing[:1]):
        if token is not None and token >= 0:
            enders.add(token)
    return enders


def _starts_an_end(llama: object, token: int) -> bool:
    text = llama._model.token_get_text(token)
    return text[:1] in _ENDERS


def load_turn_end(backend: object, system_prompt: str, threads: int = 1) -> TurnEndScorer | None:
    """A scorer for a local chat model quick enough to use; None (whisper's punctuation
    decides, as before) for a model that cannot be read this way or is too slow."""
    if not hasattr(backend, "llama"):
        return None
    try:
        scorer = TurnEndScorer(backend, system_prompt, threads)
        scorer.probability("What is the capital of France")  # the first is no slower
    except (ValueError, RuntimeError, OSError) as exc:
        log.info("turn ends are judged by punctuation: %s", exc)
        return None
    if scorer.last_ms > TOO_SLOW_MS:
        log.info(
            "turn ends are judged by punctuation: the chat model takes %.0f ms to score one",
            scorer.last_ms,
        )
        return None
    log.info("turn ends are judged by the chat model (%.0f ms a pause)", scorer.last_ms)
    return scorer
