"""Conversations on disk: SQLite in WAL mode, one transaction per finished turn.

A turn is written the moment it completes (a stopped reply as far as it got),
in one transaction with ``synchronous=FULL``, so a crash or a SIGKILL loses at
most the turn still in flight and never leaves a half-written one. A file that
is not a healthy database is moved aside with a notice and a fresh one is
started: the user keeps a working app and the old file for recovery.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from desktop import paths
from desktop.engine.events import TurnResult
from desktop.engine.llm.backend import Message
from desktop.errors import ParleyError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: turns.tools (the chat model's tool calls)
TITLE_CHARS = 60
BUSY_TIMEOUT_S = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    reply TEXT NOT NULL,
    reasoning TEXT NOT NULL DEFAULT '',
    cancelled INTEGER NOT NULL DEFAULT 0,
    models TEXT NOT NULL DEFAULT '{}',
    timings TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    tools TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, id);
"""


class HistoryError(ParleyError):
    """The history could not be read or written."""


def history_file() -> Path:
    return paths.data_dir() / "history.db"


@dataclass(frozen=True)
class Turn:
    question: str
    reply: str
    reasoning: str = ""
    cancelled: bool = False
    models: dict[str, str | None] = field(default_factory=dict)
    timings: dict[str, float | None] = field(default_factory=dict)
    created_at: float = 0.0
    tools: list[dict] = field(default_factory=list)  # name, arguments, result


@dataclass(frozen=True)
class Summary:
    """One line of the conversation list."""

    id: int
    title: str
    created_at: float
    updated_at: float
    turns: int


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    turns: list[Turn]

    def messages(self) -> list[Message]:
        """The exchanges as chat messages, to carry the conversation on."""
        out: list[Message] = []
        for turn in self.turns:
            out += [
                {"role": "user", "content": turn.question},
                {"role": "assistant", "content": turn.reply},
            ]
        return out


def title_for(question: str) -> str:
    """A first question made into a one-line title."""
    words = " ".join(question.split())
    if len(words) <= TITLE_CHARS:
        return words or "Untitled"
    return words[: TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class HistoryStore:
    """Thread-safe: the window saves from the engine's reader thread and lists from
    the GUI thread, so one connection is shared under a lock."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or history_file()
        self.notice: str | None = None  # set when a damaged file was moved aside
        self._lock = threading.Lock()
        self._db = self._open()

    # -- opening -------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the history folder {self.path.parent}: {exc.strerror}"
            ) from exc
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            moved = self._move_aside()
            self.notice = (
                f"the conversation history was damaged ({exc}); it was moved to "
                f"{moved.name} and a new one was started"
            )
            log.error("%s", self.notice)
            try:
                return self._connect()
            except sqlite3.Error as again:
                raise HistoryError(f"cannot open the history at {self.path}: {again}") from again
        except sqlite3.Error as exc:  # e.g. an unwritable folder
            raise HistoryError(f"cannot open the history at {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    f"the history at {self.path} was written by a newer Parley "
                    f"(schema {version}); update Parley to read it"
                )
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(turns)")}
            if "tools" not in columns:  # a history written by schema 1
                db.execute("ALTER TABLE turns ADD COLUMN tools TEXT NOT NULL DEFAULT '[]'")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.replace(Path(f"{target}{suffix}"))
        return target

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -------------------------------------------------------------------------

    def _write(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._db.execute(sql, args)
        except sqlite3.OperationalError as exc:  # disk full, read-only, locked
            raise HistoryError(f"could not save the conversation history: {exc}") from exc

    def new_conversation(self, title: str = "") -> int:
        now = time.time()
        cursor = self._write(
            "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
            (title or "Untitled", now, now),
        )
        return int(cursor.lastrowid)

    def add_turn(self, conversation_id: int | None, result: TurnResult) -> int:
        """Save a finished (or stopped) turn; a new conversation is made if the id is None
        or was deleted meanwhile. Returns the conversation's id."""
        now = time.time()
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    exists = (
                        conversation_id is not None
                        and self._db.execute(
                            "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
                        ).fetchone()
                    )
                    if not exists:
                        conversation_id = self._db.execute(
                            "INSERT INTO conversations (title, created_at, updated_at) "
                            "VALUES (?, ?, ?)",
                            (title_for(result.transcript), now, now),
                        ).lastrowid
                    self._db.execute(
                        "INSERT INTO turns (conversation_id, question, reply, reasoning, "
                        "cancelled, models, timings, created_at, tools) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            conversation_id,
                            result.transcript,
                            result.reply,
                            result.reasoning,
                            int(result.cancelled),
                            json.dumps(result.models),
                            json.dumps(result.timings),
                            now,
                            json.dumps(result.tools),
                        ),
                    )
                    self._db.execute(
                        "UPDATE conversations SET updated_at = ? WHERE id = ?",
                        (now, conversation_id),
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise
        except sqlite3.OperationalError as exc:
            raise HistoryError(f"could not save the turn to the history: {exc}") from exc
        return int(conversation_id)

    def rename(self, conversation_id: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise HistoryError("a conversation needs a title")
        if (
            self._write(
                "UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id)
            ).rowcount
            == 0
        ):
            raise HistoryError(f"there is no conversation {conversation_id}")

    def delete(self, conversation_id: int) -> None:
        if self._write("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount == 0:
            raise HistoryError(f"there is no conversation {conversation_id}")

    # -- reading -------------------------------------------------------------------------

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(f"could not read the conversation history: {exc}") from exc

    def conversations(self, search: str = "") -> list[Summary]:
        """Newest first; ``search`` matches titles, questions and replies (any case)."""
        sql = (
            "SELECT c.id, c.title, c.created_at, c.updated_at, "
            "(SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) FROM conversations c"
        )
        args: tuple = ()
        if search.strip():
            pattern = _like_pattern(search.strip())
            sql += (
                " WHERE c.title LIKE ?1 ESCAPE '\\' OR EXISTS (SELECT 1 FROM turns t WHERE "
                "t.conversation_id = c.id AND (t.question LIKE ?1 ESCAPE '\\' "
                "OR t.reply LIKE ?1 ESCAPE '\\'))"
            )
            args = (pattern,)
        sql += " ORDER BY c.updated_at DESC, c.id DESC"
        return [Summary(*row) for row in self._read(sql, args)]

    def get(self, conversation_id: int) -> Conversation:
        rows = self._read(
            "SELECT id, title, created_at, updated_at FROM conversations WHERE id = ?",
            (conversation_id,),
        )
        if not rows:
            raise HistoryError(
                f"there is no conversation {conversation_id}",
                "parley history list shows the conversations there are",
            )
        turns = [
            Turn(
                q,
                r,
                reasoning,
                bool(cancelled),
                json.loads(models),
                json.loads(timings),
                at,
                json.loads(tools),
            )
            for q, r, reasoning, cancelled, models, timings, at, tools in self._read(
                "SELECT question, reply, reasoning, cancelled, models, timings, created_at, "
                "tools FROM turns WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        ]
        return Conversation(*rows[0], turns=turns)

    def integrity(self) -> str:
        """``PRAGMA integrity_check``'s verdict: "ok" for a healthy file."""
        return "; ".join(row[0] for row in self._read("PRAGMA integrity_check"))
