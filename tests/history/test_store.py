"""The history database on real SQLite files: saving, listing, searching, damage."""

import sqlite3

import pytest

from desktop.engine.events import TurnResult
from desktop.history.store import HistoryError, HistoryStore, title_for


def turn(question: str, reply: str = "An answer.", cancelled: bool = False) -> TurnResult:
    return TurnResult(
        transcript=question,
        reply=reply,
        reasoning="",
        timings={"total_ms": 12.5},
        models={"llm": "smollm2"},
        cancelled=cancelled,
    )


@pytest.fixture
def store(tmp_path):
    db = HistoryStore(tmp_path / "history.db")
    yield db
    db.close()


def test_turns_of_one_conversation_are_kept_in_order(store):
    first = store.add_turn(None, turn("What is the capital of France?", "Paris."))
    assert store.add_turn(first, turn("And of Italy?", "Rome.")) == first
    saved = store.get(first)
    assert saved.title == "What is the capital of France?"
    assert [t.question for t in saved.turns] == ["What is the capital of France?", "And of Italy?"]
    assert saved.turns[1].reply == "Rome."
    assert saved.turns[0].timings == {"total_ms": 12.5}
    assert saved.messages() == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
        {"role": "assistant", "content": "Rome."},
    ]


def test_a_stopped_reply_is_saved_as_far_as_it_got(store):
    saved = store.get(store.add_turn(None, turn("Tell me a story", "Once upon", cancelled=True)))
    assert saved.turns[0].reply == "Once upon"
    assert saved.turns[0].cancelled


def test_newest_conversation_is_listed_first(store):
    older = store.add_turn(None, turn("First chat"))
    newer = store.add_turn(None, turn("Second chat"))
    assert [s.id for s in store.conversations()] == [newer, older]
    store.add_turn(older, turn("back to the first"))
    listed = store.conversations()
    assert [s.id for s in listed] == [older, newer]
    assert listed[0].turns == 2


def test_search_matches_titles_questions_and_replies_in_any_case(store):
    weather = store.add_turn(None, turn("Will it rain?", "Bring an UMBRELLA."))
    store.add_turn(None, turn("Capital of France?", "Paris."))
    percent = store.add_turn(None, turn("What is 50% of 10?", "5."))
    assert [s.id for s in store.conversations("umbrella")] == [weather]
    assert [s.id for s in store.conversations("RAIN")] == [weather]
    assert [s.id for s in store.conversations("50%")] == [percent]
    assert store.conversations("%") == [s for s in store.conversations() if s.id == percent]
    assert store.conversations("no such words") == []


def test_rename_and_delete(store):
    chat = store.add_turn(None, turn("Hello"))
    store.rename(chat, "  Greetings   and   more ")
    assert store.get(chat).title == "Greetings and more"
    with pytest.raises(HistoryError, match="needs a title"):
        store.rename(chat, "   ")
    store.delete(chat)
    assert store.conversations() == []
    with pytest.raises(HistoryError, match=f"no conversation {chat}"):
        store.get(chat)
    with pytest.raises(HistoryError, match="no conversation"):
        store.delete(chat)
    rows = sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM turns").fetchone()[0]
    assert rows == 0, "deleting a conversation deletes its turns"


def test_a_turn_for_a_deleted_conversation_starts_a_new_one(store):
    chat = store.add_turn(None, turn("Hello"))
    store.delete(chat)
    again = store.add_turn(chat, turn("Still there?"))
    assert store.get(again).title == "Still there?"


def test_titles_are_one_short_line():
    assert title_for("  what\nis   this ") == "what is this"
    long = title_for("word " * 40)
    assert len(long) <= 60 and long.endswith("…")
    assert title_for("") == "Untitled"


def test_the_database_is_in_wal_mode_and_healthy(store):
    store.add_turn(None, turn("Hello"))
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert store.integrity() == "ok"


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not SQLite at all" * 100)
    store = HistoryStore(path)
    assert store.notice and "moved to history.db.damaged-" in store.notice
    aside = list(tmp_path.glob("history.db.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not SQLite")
    chat = store.add_turn(None, turn("Fresh start"))
    assert store.get(chat).turns[0].question == "Fresh start"
    store.close()


def test_a_database_with_damaged_pages_is_moved_aside(tmp_path):
    path = tmp_path / "history.db"
    store = HistoryStore(path)
    for n in range(300):
        store.add_turn(None, turn(f"question {n} " + "x" * 200))
    store.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 20 * 4096
    for page in range(2, 20):  # scribble over b-tree pages, keep the header
        data[page * 4096 : page * 4096 + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))
    reopened = HistoryStore(path)
    assert reopened.notice and "damaged" in reopened.notice
    assert reopened.conversations() == []
    assert reopened.integrity() == "ok"
    reopened.close()


def test_a_history_from_a_newer_parley_is_left_alone(tmp_path):
    path = tmp_path / "history.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(HistoryError, match="newer Parley"):
        HistoryStore(path)
    assert path.exists() and not list(tmp_path.glob("*.damaged-*"))


def test_an_unusable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HistoryError, match="cannot create the history folder"):
        HistoryStore(blocker / "sub" / "history.db")


def test_a_full_database_is_a_clear_error_and_keeps_what_was_saved(store):
    first = store.add_turn(None, turn("Before the disk filled"))
    # SQLite's own page limit raises the same SQLITE_FULL error a full disk does.
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(HistoryError, match="full"):
        for _ in range(50):
            store.add_turn(first, turn("x" * 5000))
    store._db.execute("PRAGMA max_page_count=1073741823")
    assert store.get(first).turns[0].question == "Before the disk filled"
    assert store.integrity() == "ok"


def test_tool_calls_are_saved_with_the_turn(store):
    import dataclasses

    call = {"name": "start_timer", "arguments": {"seconds": 90}, "result": "Timer set."}
    store.add_turn(None, dataclasses.replace(turn("Pasta?"), tools=[call]))
    [summary] = store.conversations()
    assert store.get(summary.id).turns[0].tools == [call]


def test_a_history_from_before_tool_calls_is_upgraded_in_place(tmp_path):
    path = tmp_path / "history.db"
    old = sqlite3.connect(path)  # schema 1, as Parley wrote it before tool calls
    old.executescript(
        """
        CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL,
            created_at REAL NOT NULL, updated_at REAL NOT NULL);
        CREATE TABLE turns (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL
            REFERENCES conversations(id) ON DELETE CASCADE, question TEXT NOT NULL,
            reply TEXT NOT NULL, reasoning TEXT NOT NULL DEFAULT '',
            cancelled INTEGER NOT NULL DEFAULT 0, models TEXT NOT NULL DEFAULT '{}',
            timings TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL);
        INSERT INTO conversations VALUES (1, 'Old', 1.0, 1.0);
        INSERT INTO turns (conversation_id, question, reply, created_at)
            VALUES (1, 'Hi?', 'Hello.', 1.0);
        PRAGMA user_version=1;
        """
    )
    old.close()
    store = HistoryStore(path)
    try:
        [saved] = store.get(1).turns
        assert (saved.question, saved.reply, saved.tools) == ("Hi?", "Hello.", [])
        store.add_turn(1, turn("And now?"))
        assert [t.question for t in store.get(1).turns] == ["Hi?", "And now?"]
    finally:
        store.close()
