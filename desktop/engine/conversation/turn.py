"""One turn: audio or text in, transcript, streamed reply, streamed speech.

The reply streams from the LLM through the reasoning splitter and the clause
chunker into a speech thread, so the first clause is being synthesized while
the model is still writing the rest. Every stage is timed from the turn's
start, which for spoken input is the end of the user's audio.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from desktop.engine.conversation.tool_loop import (
    GAVE_UP,
    MAX_TOOL_ROUNDS,
    CallWatch,
    ToolRound,
    round_messages,
)
from desktop.engine.conversation.turn_end import TurnEndScorer
from desktop.engine.events import (
    Event,
    Notice,
    SettingsChanged,
    Speech,
    State,
    Timing,
    Token,
    ToolUse,
    Transcript,
    TurnResult,
)
from desktop.engine.llm.backend import ChatBackend, Message
from desktop.engine.llm.reasoning import ThinkSplitter
from desktop.engine.llm.remote import BackendNotice
from desktop.engine.os_threads import name_this_thread
from desktop.engine.skills.skills import SkillReply, Skills
from desktop.engine.skills.toolbox import ToolBox
from desktop.engine.skills.tools import BuiltinTools
from desktop.engine.speech.clauses import ClauseChunker
from desktop.engine.speech.stt import Transcriber
from desktop.engine.speech.tts import Synthesizer
from desktop.errors import Cancelled, ParleyError

log = logging.getLogger(__name__)

EventSink = Callable[[Event], None]

PACE_AHEAD_S = 5.0  # a paced reply is written only this far ahead of what has been heard
SECONDS_PER_WORD = 0.4  # piper's voices at their own pace: about 150 words a minute


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 1)


class _SpeechThread:
    """Synthesizes clauses in order on its own thread while the LLM keeps writing."""

    def __init__(self, tts: Synthesizer, emit: EventSink, cancel: threading.Event) -> None:
        self.tts = tts
        self.emit = emit
        self.cancel = cancel
        self.first_audio_at: float | None = None
        self.first_clause_done = threading.Event()
        self.error: BaseException | None = None
        self.unvoiced_words = 0  # in clauses handed over and not yet synthesized
        self._words_lock = threading.Lock()
        self._clauses: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="parley-tts", daemon=True)
        self._thread.start()

    def say(self, clause: str) -> None:
        self._count_words(len(clause.split()))
        self._clauses.put(clause)

    def _count_words(self, words: int) -> None:
        with self._words_lock:
            self.unvoiced_words += words

    def hold_while_ahead(self, speaker_backlog: Callable[[], float]) -> None:
        """Hold the LLM while more than PACE_AHEAD_S of the reply is yet to be heard:
        on the speaker (``speaker_backlog()`` seconds) or still to be synthesized.

        Why: spoken replies are often cut short (barge-in, Stop), and on a small CPU
        every clause written and voiced far ahead of the listener was work thrown
        away, done while the echo canceller and the VAD need the cores to hear the
        interruption (bench/interrupted_reply.py).
        """
        while not self.cancel.is_set():
            ahead = speaker_backlog() + self.unvoiced_words * SECONDS_PER_WORD
            if ahead <= PACE_AHEAD_S:
                return
            self.cancel.wait(0.05)

    def wait_for_first_clause(self) -> None:
        """Hold the LLM while the first clause is synthesized: on a small CPU the two
        would share the cores, and the first audio matters more than the next tokens."""
        while not self.first_clause_done.wait(0.05):
            if self.cancel.is_set():
                return

    def finish(self) -> None:
        self._clauses.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error
        self.tts.release_memory()  # the reply is synthesized; its buffers can go

    def _run(self) -> None:
        name_this_thread()
        try:
            while (clause := self._clauses.get()) is not None:
                try:
                    self._voice(clause)
                finally:
                    self._count_words(-len(clause.split()))
        except BaseException as exc:  # handed to the turn's thread in finish()
            self.error = exc
            self.cancel.set()
        finally:
            self.first_clause_done.set()

    def _voice(self, clause: str) -> None:
        if self.cancel.is_set():
            return  # drain without speaking
        audio = self.tts.synthesize(clause)
        # Set even when the clause had nothing speakable (emoji, a script the voice
        # cannot read): the LLM is waiting on it.
        self.first_clause_done.set()
        if audio.size == 0 or self.cancel.is_set():
            return
        if self.first_audio_at is None:
            self.first_audio_at = time.perf_counter()
        self.emit(Speech(clause, audio, self.tts.sample_rate))


class Assistant:
    """Loaded models plus the conversation so far; runs one turn at a time."""

    def __init__(
        self,
        llm: ChatBackend,
        stt: Transcriber | None,
        tts: Synthesizer | None,
        system_prompt: str,
        models: dict[str, str | None] | None = None,
        turn_end: TurnEndScorer | None = None,
        skills: Skills | None = None,
        device: str = "",
    ) -> None:
        self.llm = llm
        self.stt = stt
        self.tts = tts
        self.turn_end = turn_end  # judges whether a pause ends the turn (live voice)
        self.skills = skills  # intents answered without the LLM (the time, timers, ...)
        self.device = device  # "" this computer; a satellite's name on the hub
        # The intents (and MCP servers' tools) for chat models whose template takes
        # tools; loading.py adds the MCP servers, a front the way to approve them.
        self.tools = ToolBox(BuiltinTools(skills, device)) if skills is not None else None
        self.system_prompt = system_prompt
        self.models = models or {"llm": llm.description, "stt": None, "tts": None}
        self.messages: list[Message] = []
        self.reset()

    def reset(self) -> None:
        """Start a new conversation."""
        self.messages = (
            [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        )

    def last_reply(self) -> str:
        """What Parley said last in this conversation ("say that again")."""
        for message in reversed(self.messages):
            if message["role"] == "assistant" and message["content"]:
                return message["content"]
        return ""

    def may_answer_ahead(self, text: str) -> bool:
        """Whether the voice loop may begin the reply to ``text`` before the user has
        finished: not for "speak slower", whose reply is spoken in the new voice."""
        return self.skills is None or self.skills.may_answer_ahead(text)

    def _models_used(self) -> dict[str, str | None]:
        """The models of this turn: a remote backend may have handed it to the local one."""
        models = dict(self.models)
        answered_by = getattr(self.llm, "answered_by", None)
        if answered_by:
            models["llm"] = answered_by
        return models

    def restore(self, history: list[Message]) -> None:
        """Carry on an earlier conversation (after the engine process restarted)."""
        self.reset()
        self.messages += [m for m in history if m["role"] != "system"]

    def set_system_prompt(self, prompt: str) -> None:
        """A new system prompt for the conversation going on (settings applied live)."""
        self.system_prompt = prompt
        rest = [m for m in self.messages if m["role"] != "system"]
        self.reset()
        self.messages += rest

    def run_turn(
        self,
        *,
        text: str | None = None,
        audio: np.ndarray | None = None,
        speak: bool = False,
        cancel: threading.Event | None = None,
        on_event: EventSink | None = None,
        source: str = "the recording",
        started_at: float | None = None,
        stt_ms: float | None = None,
        speaker_backlog: Callable[[], float] | None = None,
        act_gate: Callable[[], bool] | None = None,
        tool_choice: str = "auto",
    ) -> TurnResult:
        """Answer one question, given as text or as 16 kHz float32 audio.

        A live voice loop passes the text it already transcribed, with
        ``started_at`` (``time.perf_counter()`` at the end of the user's speech)
        and the ``stt_ms`` spent after that, so timings still run from the endpoint,
        and ``speaker_backlog`` (seconds of speech queued on its speaker), which
        paces a spoken reply (_SpeechThread.hold_while_ahead). ``act_gate``: for a
        reply begun before the endpoint, blocks until it is let through (True) or
        dropped (False); an intent's act and every tool call wait on it.
        ``tool_choice``: "auto" offers the tools to a model whose template takes
        them; "required" makes the first round a tool call (a grammar: any model);
        "none" offers none.
        """
        start = started_at if started_at is not None else time.perf_counter()
        cancel = cancel or threading.Event()
        lock = threading.Lock()

        def emit(event: Event) -> None:
            if on_event is not None:
                with lock:
                    on_event(event)

        timings: dict[str, float | None] = {
            "stt_ms": stt_ms,
            "llm_first_token_ms": None,
            "first_audio_ms": None,
            "total_ms": None,
            "tokens_per_s": None,
        }
        if audio is not None:
            if self.stt is None:
                raise ParleyError("no speech-to-text model is loaded")
            emit(State("transcribing"))
            text = self.stt.transcribe(audio, source=source)
            timings["stt_ms"] = _ms_since(start)
            emit(Timing("stt", timings["stt_ms"]))
        text = (text or "").strip()
        if not text:
            raise ParleyError("there is no question to answer", "type or say something")
        emit(Transcript(text))
        if self.skills is not None:
            reply = self.skills.answer(
                text, last_reply=self.last_reply(), device=self.device, act_now=False
            )
            if reply is not None:
                return self._run_skill(text, reply, speak, cancel, emit, start, timings, act_gate)

        messages, dropped = self.llm.fit_messages(
            self.messages + [{"role": "user", "content": text}]
        )
        if dropped:
            emit(Notice(f"dropped the {dropped} oldest messages to fit the model's context"))
        if speak and self.tts is None:
            raise ParleyError("no voice is loaded")
        speech = _SpeechThread(self.tts, emit, cancel) if speak and self.tts else None
        emit(State("thinking"))

        answer: list[str] = []
        reasoning: list[str] = []
        chunker = ClauseChunker()
        splitter: ThinkSplitter | None = None
        first_token_at = last_token_at = None
        token_count = 0
        cancelled = False

        def take(pieces: list[tuple[bool, str]]) -> None:
            for is_reasoning, piece in pieces:
                (reasoning if is_reasoning else answer).append(piece)
                emit(Token(piece, reasoning=is_reasoning))
                if speech and not is_reasoning:
                    for clause in chunker.feed(piece):
                        speech.say(clause)
                        if speech.first_audio_at is None:
                            speech.wait_for_first_clause()
                        elif speaker_backlog is not None:
                            speech.hold_while_ahead(speaker_backlog)

        tools = self._offered_tools(tool_choice)
        used: list[dict] = []
        try:
            for round_number in range(MAX_TOOL_ROUNDS + 1):
                offer = tools is not None and round_number < MAX_TOOL_ROUNDS
                watch = CallWatch() if tools is not None else None  # calls are never said
                options = {}
                if offer:
                    required = tool_choice == "required" and round_number == 0
                    options = {"tools": tools.schemas(), "require_tool": required}
                splitter = None
                for piece in self.llm.stream_reply(messages, cancel, **options):
                    if isinstance(piece, BackendNotice):  # e.g. the remote server failed
                        emit(Notice(str(piece)))
                        continue
                    last_token_at = time.perf_counter()
                    token_count += 1
                    if first_token_at is None:
                        first_token_at = last_token_at
                        timings["llm_first_token_ms"] = _ms_since(start)
                        emit(Timing("llm_first_token", timings["llm_first_token_ms"]))
                    if splitter is None:
                        splitter = ThinkSplitter(self.llm.prompt_opens_thought)
                    pieces = splitter.feed(piece)
                    take(watch.feed(pieces) if watch else pieces)
                if splitter is not None:
                    pieces = splitter.flush()
                    take(watch.feed(pieces) if watch else pieces)
                if watch is None:
                    break
                called, let_through = watch.finish()
                take(let_through)
                if called is None:
                    break
                if not offer:  # still calling after MAX_TOOL_ROUNDS: say so, not the call
                    take([(False, GAVE_UP)])
                    break
                if act_gate is not None and not act_gate():
                    raise Cancelled("the user went on speaking")
                messages = messages + self._run_tools(called, tools, emit, used)
            if speech:
                for clause in chunker.flush():
                    speech.say(clause)
        except Cancelled:
            cancelled = True
        finally:
            if speech:
                if cancel.is_set():
                    cancelled = True
                speech.finish()

        if speech and speech.first_audio_at is not None:
            timings["first_audio_ms"] = round((speech.first_audio_at - start) * 1000.0, 1)
            emit(Timing("first_audio", timings["first_audio_ms"]))
        if first_token_at is not None and last_token_at is not None and token_count > 1:
            span = last_token_at - first_token_at
            timings["tokens_per_s"] = round((token_count - 1) / span, 1) if span > 0 else None
        timings["total_ms"] = _ms_since(start)
        emit(Timing("total", timings["total_ms"]))

        reply = "".join(answer).strip()
        self.messages = messages + [{"role": "assistant", "content": reply}]
        result = TurnResult(
            transcript=text,
            reply=reply,
            reasoning="".join(reasoning).strip(),
            timings=timings,
            models=self._models_used(),
            cancelled=cancelled,
            tools=used,
        )
        emit(State("idle"))
        emit(result)
        return result

    def _offered_tools(self, tool_choice: str) -> ToolBox | None:
        """The tools this turn offers the model (see run_turn's ``tool_choice``)."""
        if self.tools is None or tool_choice == "none":
            return None
        if tool_choice == "required" or getattr(self.llm, "supports_tools", False):
            return self.tools
        return None

    def _run_tools(
        self, called: ToolRound, tools: ToolBox, emit: EventSink, used: list[dict]
    ) -> list[Message]:
        """Run a round's calls; the messages that show the model what they answered."""
        results = []
        for call in called.calls:
            result = tools.call(call.name, call.arguments)
            results.append(result)
            used.append({"name": call.name, "arguments": call.arguments, "result": result})
            emit(ToolUse(call.name, call.arguments, result))
        if called.error:
            used.append({"name": "", "arguments": {}, "result": f"error: {called.error}"})
            emit(ToolUse("", {}, f"error: {called.error}"))
        structured = bool(getattr(self.llm, "supports_tools", False))
        return round_messages(called, results, structured)

    def _run_skill(
        self,
        text: str,
        reply: SkillReply,
        speak: bool,
        cancel: threading.Event,
        emit: EventSink,
        start: float,
        timings: dict[str, float | None],
        act_gate: Callable[[], bool] | None,
    ) -> TurnResult:
        """Say an intent's answer: no LLM, the same events and speech as a reply. Its
        act (set the timer) is done once the gate says the user has finished."""
        timings["intent_ms"] = _ms_since(start)
        emit(Timing("intent", timings["intent_ms"]))
        if reply.settings:
            if self.tts is not None and self.skills is not None:
                self.tts.set_pace(self.skills.pace.rate, self.skills.pace.gain_db)
            emit(SettingsChanged(dict(reply.settings)))
        if reply.text:
            emit(Token(reply.text))
        if speak and self.tts is not None and reply.text:
            speech = _SpeechThread(self.tts, emit, cancel)
            chunker = ClauseChunker()
            for clause in [*chunker.feed(reply.text), *chunker.flush()]:
                speech.say(clause)
            speech.finish()
            if speech.first_audio_at is not None:
                timings["first_audio_ms"] = round((speech.first_audio_at - start) * 1000.0, 1)
                emit(Timing("first_audio", timings["first_audio_ms"]))
        if reply.act is not None and (act_gate is None or act_gate()):
            reply.act()
        timings["total_ms"] = _ms_since(start)
        emit(Timing("total", timings["total_ms"]))
        if reply.text:
            self.messages = self.messages + [
                {"role": "user", "content": text},
                {"role": "assistant", "content": reply.text},
            ]
        result = TurnResult(
            transcript=text,
            reply=reply.text,
            reasoning="",
            timings=timings,
            models={**self._models_used(), "llm": None, "intent": reply.intent},
            cancelled=cancel.is_set(),
            intent=reply.intent,
        )
        emit(State("idle"))
        emit(result)
        return result
