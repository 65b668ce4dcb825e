"""`parley chat` saves its turns; `parley history` lists, shows, exports, renames, deletes.

Real `parley` processes on the real starter model, each test with its own PARLEY_HOME.
"""

import json

import pytest

from tests.conftest import run_parley


@pytest.fixture
def home(tmp_path):
    return {"PARLEY_HOME": str(tmp_path)}


def test_chat_turns_are_saved_and_continued(home, tmp_path):
    chat = run_parley("chat", input_text="What is the capital of France?\n/quit\n", env=home)
    assert chat.returncode == 0, chat.stderr
    listing = run_parley("history", "list", "--json", env=home)
    (summary,) = json.loads(listing.stdout)
    assert summary["title"] == "What is the capital of France?" and summary["turns"] == 1

    again = run_parley(
        "chat", "--continue", str(summary["id"]), input_text="And of Italy?\n", env=home
    )
    assert again.returncode == 0, again.stderr
    assert "continuing “What is the capital of France?”: 1 turns" in again.stderr
    shown = run_parley("history", "show", str(summary["id"]), env=home)
    assert shown.stdout.index("capital of France") < shown.stdout.index("And of Italy?")

    out = tmp_path / "chat.json"
    exported = run_parley(
        "history", "export", str(summary["id"]), "--format", "json", "-o", str(out), env=home
    )
    assert exported.returncode == 0, exported.stderr
    turns = json.loads(out.read_text())["turns"]
    assert [t["question"] for t in turns] == ["What is the capital of France?", "And of Italy?"]
    assert all(t["reply"] for t in turns)
    assert not list(tmp_path.glob("*.part"))


def test_rename_search_and_delete(home):
    run_parley("chat", input_text="Name a colour of the sky.\n", env=home)
    (chat,) = json.loads(run_parley("history", "--json", env=home).stdout)
    ident = str(chat["id"])
    assert run_parley("history", "rename", ident, "Sky", "talk", env=home).returncode == 0
    found = run_parley("history", "list", "--search", "sky talk", env=home)
    assert "Sky talk" in found.stdout
    assert "no conversations match" in run_parley("history", "--search", "zebra", env=home).stdout
    deleted = run_parley("history", "delete", ident, env=home)
    assert deleted.returncode == 0 and f"deleted conversation {ident}" in deleted.stdout
    assert "no conversations yet" in run_parley("history", env=home).stdout


def test_missing_conversation_and_unwritable_export_are_one_line_errors(home, tmp_path):
    missing = run_parley("history", "show", "42", env=home)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "parley: error: there is no conversation 42 "
        "(parley history list shows the conversations there are)"
    )
    resumed = run_parley("chat", "--continue", "42", input_text="", env=home)
    assert resumed.returncode == 2 and "no conversation 42" in resumed.stderr
    run_parley("chat", input_text="Hello\n", env=home)
    target = tmp_path / "no-such-folder" / "out.md"
    failed = run_parley("history", "export", "1", "-o", str(target), env=home)
    assert failed.returncode == 2
    assert (
        failed.stderr.startswith("parley: error: cannot write")
        and len(failed.stderr.splitlines()) == 1
    )


def test_history_off_saves_nothing(home, tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.toml").write_text("keep_history = false\n")
    run_parley("chat", input_text="Keep this private.\n", env=home)
    assert "no conversations yet" in run_parley("history", env=home).stdout
