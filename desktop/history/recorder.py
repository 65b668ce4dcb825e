"""Saves the conversation going on, turn by turn, wherever turns happen.

Saving is a courtesy to the user, never a reason to stop talking: a history
that cannot be opened or written (unwritable folder, full disk) is reported
once and the conversation goes on in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from desktop.engine.events import TurnResult
from desktop.history.store import Conversation, HistoryError, HistoryStore

log = logging.getLogger(__name__)


class Recorder:
    """``record`` each finished turn; ``new`` starts a conversation; ``resume`` an old one.

    The window records on the engine's reader thread and starts or resumes
    conversations on the GUI thread; a lock keeps a turn from landing in the
    conversation the user just left.
    """

    def __init__(self, store: HistoryStore | None, on_problem: Callable[[str], None]) -> None:
        self.store = store
        self.on_problem = on_problem
        self.conversation_id: int | None = None
        self._reported = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, enabled: bool, on_problem: Callable[[str], None]) -> Recorder:
        """A recorder on the user's history, or one that saves nothing (disabled, or the
        history cannot be opened: then ``on_problem`` hears why)."""
        if not enabled:
            return cls(None, on_problem)
        try:
            store = HistoryStore()
        except HistoryError as exc:
            on_problem(f"{exc.one_line()}; this conversation will not be saved")
            return cls(None, on_problem)
        if store.notice:
            on_problem(store.notice)
        return cls(store, on_problem)

    def record(self, result: TurnResult) -> None:
        if self.store is None:
            return
        try:
            with self._lock:
                self.conversation_id = self.store.add_turn(self.conversation_id, result)
            self._reported = False
        except HistoryError as exc:
            log.error("%s", exc.message)
            if not self._reported:  # once, not at every turn of a full disk
                self._reported = True
                self.on_problem(f"{exc.one_line()}; the conversation goes on unsaved")

    def new(self) -> None:
        with self._lock:
            self.conversation_id = None

    def resume(self, conversation_id: int) -> Conversation:
        """Carry on a saved conversation: later turns are added to it."""
        if self.store is None:
            raise HistoryError("the history is off or could not be opened")
        conversation = self.store.get(conversation_id)
        with self._lock:
            self.conversation_id = conversation.id
        return conversation

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
