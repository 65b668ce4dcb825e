"""The engine's side of the pipe: load the models, listen, answer, send events.

This is the child process's whole life. Native code (llama.cpp, onnxruntime,
PortAudio) runs only here, so if it aborts the window survives and starts a
new engine. Commands arrive on the pipe and are handled on the main thread;
turns and audio run on the engine's own threads.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import IO

from desktop import native_heap
from desktop.config import Settings
from desktop.engine.conversation.alarms import start_timer_clock, stop_timer_clock
from desktop.engine.conversation.turn import Assistant
from desktop.engine.events import (
    Alarm,
    Event,
    Failure,
    Notice,
    SettingsChanged,
    Speech,
    State,
)
from desktop.engine.llm.backend import Message
from desktop.engine.skills.skills import ring_words
from desktop.engine.skills.timers import Timer
from desktop.errors import AudioError, ParleyError
from desktop.host.messages import (
    Approval,
    ApprovalNeeded,
    Ask,
    Command,
    LoadFailed,
    Loading,
    NewConversation,
    Press,
    Ready,
    Release,
    Resume,
    SetHandsFree,
    Shutdown,
    Spoken,
    StopReply,
    Tune,
)

log = logging.getLogger(__name__)

APPROVAL_WAIT_S = 120.0  # an unanswered question about a tool is a no


def serve(conn: Connection, settings_values: dict, history: list[Message], debug: bool) -> None:
    """Process target (spawn): runs until Shutdown or until the window's end closes."""
    from desktop import netguard
    from desktop.logs import setup_logging

    native_heap.limit_arenas()  # before the models start their threads
    setup_logging(debug=debug, filename="engine.log")
    settings = Settings(**settings_values)
    netguard.install("engine", settings)  # nothing leaves unless the user asked for it
    EngineService(conn, settings, history).run()


def _watch_shutdown() -> IO[str] | None:
    """If closing takes over 3 s, write every thread's stack to the log folder: the
    window kills an engine that has not exited after 5 s, which would hide the hang."""
    from desktop import paths

    try:
        stacks = open(paths.log_dir() / "engine-shutdown-stacks.txt", "w")  # noqa: SIM115
    except OSError:
        return None
    faulthandler.dump_traceback_later(3, exit=False, file=stacks)
    return stacks


class TextTurns:
    """Turns without a microphone: typed questions, replies spoken if a speaker exists."""

    def __init__(self, assistant: Assistant, emit: Callable[[object], None], speak: bool) -> None:
        self.assistant = assistant
        self.emit = emit
        self.player = None
        if speak:
            from desktop.engine.audio.player import Player

            try:
                self.player = Player()
            except AudioError as exc:
                emit(Failure(exc.message, exc.hint))
        self._cancel = threading.Event()
        self._questions: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="parley-text-turns", daemon=True)
        self._thread.start()
        self._timer_clock = start_timer_clock(assistant, self._ring)

    def _ring(self, timer: Timer, late_s: float) -> None:
        words = ring_words(timer, late_s)
        self.emit(Alarm(timer.id, timer.title, words, round(late_s * 1000.0, 1)))
        tts = self.assistant.tts
        if self.player is not None and tts is not None:
            self.player.play(tts.synthesize(words), tts.sample_rate)

    def ask(self, text: str) -> None:
        self.stop_speaking()
        self._questions.put(text)

    def stop_speaking(self) -> None:
        self._cancel.set()
        if self.player is not None:
            self.player.stop()

    def stop(self) -> None:
        stop_timer_clock(self.assistant, self._timer_clock)
        self.stop_speaking()
        self._questions.put(None)
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while (text := self._questions.get()) is not None:
            self._cancel = threading.Event()
            speak = self.player is not None

            def on_event(event: Event) -> None:
                if isinstance(event, Speech) and self.player is not None:
                    if not self._cancel.is_set():
                        self.player.play(event.audio, event.sample_rate)
                self.emit(event)

            try:
                self.assistant.run_turn(
                    text=text, speak=speak, cancel=self._cancel, on_event=on_event
                )
            except ParleyError as exc:
                self.emit(Failure(exc.message, exc.hint))
            except Exception as exc:  # a bug must not end the conversation
                log.exception("turn failed")
                self.emit(Failure(f"the turn failed: {exc}"))
            self.emit(State("idle"))
            native_heap.give_back_freed()


class EngineService:
    """Owns the assistant and either the live voice loop or text turns."""

    def __init__(self, conn: Connection, settings: Settings, history: list[Message]) -> None:
        self.conn = conn
        self.settings = settings
        self.history = history
        self._send_lock = threading.Lock()
        self.voice = None  # VoiceLoop when a microphone exists
        self.text: TextTurns | None = None
        self._approvals: dict[int, list] = {}  # request id -> [threading.Event, answer]
        self._approval_ids = itertools.count(1)

    def send(self, event: object) -> None:
        if isinstance(event, Speech):
            event = Spoken(event.text)  # the audio stays here
        with self._send_lock:
            try:
                self.conn.send(event)
            except (BrokenPipeError, OSError):
                pass  # the window is gone; the command loop ends on EOF

    def run(self) -> None:
        try:
            self._load()
        except ParleyError as exc:
            log.info("engine could not load: %s", exc.one_line())
            self.send(LoadFailed(exc.message, exc.hint))
        except Exception as exc:
            log.exception("engine failed to load")
            self.send(LoadFailed(f"the engine failed to start: {exc}"))
        try:
            while True:
                try:
                    command = self.conn.recv()
                except (EOFError, OSError):
                    break  # the window closed its end
                if isinstance(command, Shutdown):
                    break
                self._handle(command)
        finally:
            stacks = _watch_shutdown()
            self._close()
            faulthandler.cancel_dump_traceback_later()
            if stacks is not None:
                stacks.close()
                if not os.path.getsize(stacks.name):  # closed in time: nothing to keep
                    os.unlink(stacks.name)

    def _load(self) -> None:
        from desktop.engine.audio.streams import find_devices, list_devices
        from desktop.engine.loading import load_assistant

        inputs, outputs = list_devices()
        try:
            devices = find_devices(self.settings.input_device, self.settings.output_device)
        except AudioError as exc:
            devices = None
            self.send(Notice(f"{exc.message}: {exc.hint}" if exc.hint else exc.message))
        assistant = load_assistant(
            self.settings,
            live_audio=devices is not None,
            need_stt=devices is not None,
            need_tts=bool(outputs),
            progress=lambda message: self.send(Loading(message)),
        )
        assistant.restore(self.history)
        if assistant.tools is not None and assistant.tools.mcp is not None:
            assistant.tools.approve = self._approve  # the window asks the user
            assistant.tools.on_always = lambda allowed: self.send(
                SettingsChanged({"mcp_always_allow": allowed})
            )
            for failure in assistant.tools.mcp.failures:
                self.send(Notice(failure))
        if devices is not None:
            from desktop.engine.audio.streams import DuplexStream
            from desktop.engine.conversation.voice_loop import VoiceLoop

            self.voice = VoiceLoop(
                assistant,
                lambda on_block, on_failure: DuplexStream(devices, on_block, on_failure),
                self.send,
                hands_free=self.settings.hands_free,
                echo_cancellation=self.settings.echo_cancellation,
            )
            self.voice.start()
        else:
            self.text = TextTurns(assistant, self.send, speak=bool(outputs))
        self.assistant = assistant
        self.send(Ready(dict(assistant.models), self.voice is not None, inputs, outputs))
        if self.voice is None:
            self.send(State("idle"))

    def _approve(self, server: str, tool: str, arguments: dict) -> str:
        """On the turn's thread: ask the window, wait for the answer ("no" if none)."""
        request_id = next(self._approval_ids)
        waiting = [threading.Event(), "no"]
        self._approvals[request_id] = waiting
        self.send(ApprovalNeeded(request_id, server, tool, arguments))
        waiting[0].wait(APPROVAL_WAIT_S)
        self._approvals.pop(request_id, None)
        return waiting[1]

    def _handle(self, command: Command) -> None:
        if isinstance(command, Approval):
            waiting = self._approvals.get(command.request_id)
            if waiting is not None:
                waiting[1] = command.answer
                waiting[0].set()
            return
        voice, text = self.voice, self.text
        if voice is None and text is None:
            if isinstance(command, Ask):
                self.send(Failure("no model is loaded", "fix the settings first"))
            return
        if isinstance(command, Ask):
            (voice or text).ask(command.text)
        elif isinstance(command, StopReply):
            (voice or text).stop_speaking()
        elif isinstance(command, Press) and voice is not None:
            voice.press()
        elif isinstance(command, Release) and voice is not None:
            voice.release()
        elif isinstance(command, SetHandsFree) and voice is not None:
            voice.set_hands_free(command.on)
        elif isinstance(command, Tune):
            self.assistant.llm.sampling = dataclasses.replace(
                self.assistant.llm.sampling,
                max_tokens=command.max_tokens,
                temperature=command.temperature,
            )
            self.assistant.set_system_prompt(command.system_prompt)
        elif isinstance(command, NewConversation):
            (voice or text).stop_speaking()
            self.assistant.reset()
        elif isinstance(command, Resume):
            (voice or text).stop_speaking()
            self.assistant.restore(command.messages)

    def _close(self) -> None:
        for part in (self.voice, self.text):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("closing the engine")
