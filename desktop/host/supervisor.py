"""The window's side of the pipe: start the engine process, watch it, restart it.

The host keeps the conversation (every finished exchange) so that an engine
that died can be started again where it left off, and hands each finished turn
to the history recorder here, in the window's process, which outlives an engine
crash. An engine that dies again
and again is given up on, with a message, instead of looping forever.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from desktop.config import Settings
from desktop.engine.events import TurnResult
from desktop.engine.llm.backend import Message
from desktop.history.recorder import Recorder
from desktop.host.engine_process import serve
from desktop.host.messages import (
    Command,
    EngineGaveUp,
    EngineRestarted,
    NewConversation,
    Resume,
    Shutdown,
)

log = logging.getLogger(__name__)

MAX_RESTARTS = 3  # within RESTART_WINDOW_S
RESTART_WINDOW_S = 60.0
SHUTDOWN_WAIT_S = 5.0


def describe_exit(code: int | None) -> str:
    """An exit code in words: 'it was killed (SIGKILL)', 'it exited with code 3'."""
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"it was killed ({signal.Signals(-code).name})"
        except ValueError:
            return f"it was killed by signal {-code}"
    return f"it exited with code {code}"


class EngineHost:
    """Runs ``serve`` in a spawned child and hands its events to ``on_event``.

    ``on_event`` is called on the host's reader thread; a UI hops to its own
    thread from there (the Qt bridge emits a signal).
    """

    def __init__(
        self, settings: Settings, on_event: Callable[[object], None], debug: bool = False
    ) -> None:
        self.settings = settings
        self.on_event = on_event
        self.debug = debug
        self.history: list[Message] = []
        self.recorder: Recorder | None = None  # set by the window; None saves nothing
        self._context = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._deaths: list[float] = []
        self._closing = False
        # At interpreter exit multiprocessing terminates daemon children; that is
        # not a crash to recover from (this runs first: atexit is last-in, first-out).
        atexit.register(self._exiting)

    def _exiting(self) -> None:
        self._closing = True

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        with self._lock:
            self._closing = False
            self._spawn()

    def send(self, command: Command) -> None:
        """Hand a command to the engine; lost if the engine is dead (it is restarting)."""
        if isinstance(command, NewConversation):
            self.history.clear()
            if self.recorder is not None:
                self.recorder.new()
        elif isinstance(command, Resume):
            self.history = list(command.messages)
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                conn.send(command)
            except (BrokenPipeError, OSError):
                log.info("engine gone; %s dropped", type(command).__name__)

    def restart(self, settings: Settings | None = None) -> None:
        """Start a new engine (new settings, say), keeping the conversation."""
        with self._lock:
            if settings is not None:
                self.settings = settings
            self._end_current()
            self._closing = False
            self._spawn()

    def stop(self) -> None:
        """Ask the engine to close its devices and exit; kill it if it will not."""
        with self._lock:
            self._closing = True
            self._end_current()

    # -- internals ------------------------------------------------------------------------

    def _spawn(self) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=serve,
            args=(child_end, dataclasses.asdict(self.settings), list(self.history), self.debug),
            name="parley-engine",
            daemon=True,
        )
        process.start()
        child_end.close()  # so the reader sees EOF when the child dies
        self._generation += 1
        self._process, self._conn = process, parent_end
        threading.Thread(
            target=self._read,
            args=(parent_end, process, self._generation),
            name="parley-engine-reader",
            daemon=True,
        ).start()
        log.info("engine started (pid %s)", process.pid)

    def _end_current(self) -> None:
        process, conn = self._process, self._conn
        self._generation += 1  # the old reader's EOF is no longer a death
        self._process = self._conn = None
        if process is None or conn is None:
            return
        try:
            conn.send(Shutdown())
        except (BrokenPipeError, OSError):
            pass
        process.join(SHUTDOWN_WAIT_S)
        if process.is_alive():
            log.warning("engine did not exit in %.0f s; killing it", SHUTDOWN_WAIT_S)
            process.kill()
            process.join(2)
        conn.close()

    def _read(
        self, conn: Connection, process: multiprocessing.process.BaseProcess, gen: int
    ) -> None:
        while True:
            try:
                event = conn.recv()
            except (EOFError, OSError):
                break
            if gen != self._generation:
                return  # an engine being replaced; its last words do not matter
            if isinstance(event, TurnResult):
                self.history += [
                    {"role": "user", "content": event.transcript},
                    {"role": "assistant", "content": event.reply},
                ]
                if self.recorder is not None:
                    self.recorder.record(event)
            self.on_event(event)
        with self._lock:  # only one thread may wait for (reap) a process
            if gen != self._generation or self._closing:
                return  # a shutdown we asked for
            process.join(2)
            reason = describe_exit(process.exitcode)
            log.error("engine died: %s", reason)
            now = time.monotonic()
            self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW_S] + [now]
            if len(self._deaths) > MAX_RESTARTS:
                self._process = self._conn = None
                self.on_event(EngineGaveUp(reason))
                return
            self._spawn()
        self.on_event(EngineRestarted(reason))
