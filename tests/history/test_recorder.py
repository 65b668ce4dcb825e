"""The recorder: saving goes on quietly, and problems are said once, never fatal."""

from desktop.engine.events import TurnResult
from desktop.history.recorder import Recorder
from desktop.history.store import HistoryStore


def turn(question: str) -> TurnResult:
    return TurnResult(question, "Reply.", "", {}, {})


def test_turns_go_to_one_conversation_until_a_new_one(tmp_path):
    recorder = Recorder(HistoryStore(tmp_path / "h.db"), on_problem=print)
    recorder.record(turn("one"))
    recorder.record(turn("two"))
    first = recorder.conversation_id
    recorder.new()
    recorder.record(turn("three"))
    assert recorder.conversation_id != first
    assert [len(recorder.store.get(c).turns) for c in (first, recorder.conversation_id)] == [2, 1]
    resumed = recorder.resume(first)
    assert [t.question for t in resumed.turns] == ["one", "two"]
    recorder.record(turn("four"))
    assert len(recorder.store.get(first).turns) == 3
    recorder.close()


def test_off_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_HOME", str(tmp_path))
    recorder = Recorder.open(False, on_problem=print)
    recorder.record(turn("private"))
    assert recorder.store is None and not list(tmp_path.rglob("history.db"))


def test_a_history_that_cannot_be_opened_is_said_and_the_turns_go_on(tmp_path, monkeypatch):
    (tmp_path / "data").write_text("a file where the data folder should be")
    monkeypatch.setenv("PARLEY_HOME", str(tmp_path))
    problems = []
    recorder = Recorder.open(True, on_problem=problems.append)
    recorder.record(turn("still answered"))
    assert len(problems) == 1 and "will not be saved" in problems[0]


def test_a_full_disk_is_said_once_not_at_every_turn(tmp_path):
    problems = []
    recorder = Recorder(HistoryStore(tmp_path / "h.db"), on_problem=problems.append)
    recorder.record(turn("saved"))
    pages = recorder.store._db.execute("PRAGMA page_count").fetchone()[0]
    recorder.store._db.execute(f"PRAGMA max_page_count={pages}")
    for _ in range(20):
        recorder.record(TurnResult("q" * 4000, "r" * 4000, "", {}, {}))
    assert len(problems) == 1 and "full" in problems[0] and "goes on unsaved" in problems[0]
    assert recorder.store.get(recorder.conversation_id).turns[0].question == "saved"


def test_a_damaged_history_is_reported_once_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_HOME", str(tmp_path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "history.db").write_bytes(b"garbage" * 1000)
    problems = []
    recorder = Recorder.open(True, on_problem=problems.append)
    assert len(problems) == 1 and "damaged" in problems[0]
    recorder.record(turn("works again"))
    assert recorder.store.get(recorder.conversation_id).turns[0].question == "works again"
