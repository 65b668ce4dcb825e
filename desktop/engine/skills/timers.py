"""Timers and reminders that outlive the process: due times in a small SQLite file,
and a clock thread that rings each one at its second.

Why a file: a timer set by voice must ring even if the engine was restarted in
between (a crash, new settings, the window closed and opened again). Several
Parley processes may share the file (the window's engine, ``parley chat``,
``parley timers``): a timer is claimed with one UPDATE before it rings, so it
rings once. A timer that came due while no Parley was running rings at the next
start, saying how late it is.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop import paths
from desktop.errors import ParleyError

log = logging.getLogger(__name__)

MAX_TIMER_S = 24 * 3600
POLL_S = 2.0  # how often the clock looks for timers set by another process

_SCHEMA = """
CREATE TABLE IF NOT EXISTS timers (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,            -- 'timer' or 'reminder'
    name TEXT NOT NULL DEFAULT '', -- 'pasta' for the pasta timer
    message TEXT NOT NULL DEFAULT '',
    seconds REAL NOT NULL,         -- as asked for, for "cancel the 5 minute timer"
    set_at REAL NOT NULL,          -- epoch seconds
    due REAL NOT NULL,             -- epoch seconds
    device TEXT NOT NULL DEFAULT '', -- '' this computer, else the satellite that set it
    state TEXT NOT NULL DEFAULT 'pending', -- pending, rung, cancelled
    rung_at REAL
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (state, due);
"""


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    name: str
    message: str
    seconds: float
    set_at: float
    due: float
    device: str = ""

    def left(self, now: float | None = None) -> float:
        return self.due - (time.time() if now is None else now)

    @property
    def title(self) -> str:
        """How the window and ``parley timers`` name it."""
        if self.kind == "reminder":
            return f"Reminder: {self.message}"
        return f"{self.name.capitalize()} timer" if self.name else "Timer"


def timers_file() -> Path:
    return paths.data_dir() / "timers.db"


class TimerStore:
    """The timers file. Each call opens its own short transaction; safe across threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or timers_file()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ParleyError(
                f"cannot open the timers file {self.path}: {exc}",
                "check that the folder is writable and the disk is not full",
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.row_factory = sqlite3.Row
        return db

    def _run(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        return self._execute(sql, args)[0]

    def _changes(self, sql: str, args: tuple = ()) -> int:
        return self._execute(sql, args)[1]

    def _execute(self, sql: str, args: tuple) -> tuple[list[sqlite3.Row], int]:
        try:
            with contextlib.closing(self._connect()) as db:
                cursor = db.execute(sql, args)
                return cursor.fetchall(), cursor.rowcount
        except sqlite3.Error as exc:
            raise ParleyError(
                f"the timers file {self.path} failed: {exc}",
                "check that the disk is not full",
            ) from exc

    def add(
        self,
        kind: str,
        seconds: float,
        *,
        name: str = "",
        message: str = "",
        device: str = "",
        due: float | None = None,
    ) -> Timer:
        now = time.time()
        due = now + seconds if due is None else due
        rows = self._run(
            "INSERT INTO timers (kind, name, message, seconds, set_at, due, device)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (kind, name, message, seconds, now, due, device),
        )
        return Timer(rows[0]["id"], kind, name, message, seconds, now, due, device)

    def pending(self, device: str | None = None) -> list[Timer]:
        """Timers not yet rung nor cancelled, soonest first; of one device, or all."""
        sql = "SELECT * FROM timers WHERE state = 'pending'"
        args: tuple = ()
        if device is not None:
            sql += " AND device = ?"
            args = (device,)
        return [_timer(row) for row in self._run(sql + " ORDER BY due", args)]

    def cancel(self, timer_id: int) -> bool:
        return (
            self._changes(
                "UPDATE timers SET state = 'cancelled' WHERE id = ? AND state = 'pending'",
                (timer_id,),
            )
            == 1
        )

    def claim(self, timer_id: int) -> bool:
        """Mark a due timer rung; False if another process (or a cancel) got there first."""
        return (
            self._changes(
                "UPDATE timers SET state = 'rung', rung_at = ? WHERE id = ? AND state = 'pending'",
                (time.time(), timer_id),
            )
            == 1
        )


def _timer(row: sqlite3.Row) -> Timer:
    return Timer(
        row["id"],
        row["kind"],
        row["name"],
        row["message"],
        row["seconds"],
        row["set_at"],
        row["due"],
        row["device"],
    )


class TimerClock:
    """Rings pending timers of the devices it serves, at their due second, on its own thread.

    ``on_ring(timer, late_s)`` is called once per timer, from the clock's thread.
    """

    def __init__(
        self,
        store: TimerStore,
        on_ring: Callable[[Timer, float], None],
        devices: Callable[[str], bool] = lambda device: device == "",
    ) -> None:
        self.store = store
        self.on_ring = on_ring
        self.serves = devices
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="parley-timers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def changed(self) -> None:
        """A timer was added or cancelled in this process: look again now."""
        with self._wake:
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            try:
                upcoming = [t for t in self.store.pending() if self.serves(t.device)]
            except ParleyError as exc:
                log.warning("%s", exc.one_line())
                upcoming = []
            now = time.time()
            for timer in upcoming:
                if timer.due > now:
                    break
                self._ring(timer, now)
            wait = POLL_S
            if upcoming and upcoming[-1].due > now:
                soonest = min(t.due for t in upcoming if t.due > now)
                wait = min(POLL_S, soonest - now)
            with self._wake:
                if self._stopped:
                    return
                self._wake.wait(max(0.0, wait))
                if self._stopped:
                    return

    def _ring(self, timer: Timer, now: float) -> None:
        try:
            if not self.store.claim(timer.id):
                return
        except ParleyError as exc:
            log.warning("%s", exc.one_line())
            return
        late = now - timer.due
        log.info("ringing timer %d (%s), %.0f ms late", timer.id, timer.title, late * 1000)
        try:
            self.on_ring(timer, late)
        except Exception:  # a front's failure must not stop the clock
            log.exception("ringing timer %d failed", timer.id)
