"""A tool's approval asked aloud and answered by voice, in the live loop (a FileAudio
room with the real whisper and piper, a real MCP server). The chat model is scripted
(it stands in for a tool-trained model, which the starter SmolLM2 is not)."""

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from desktop.engine.audio.samples import load_audio
from desktop.engine.conversation.spoken_approval import answer_of, question_for
from desktop.engine.conversation.turn import Assistant
from desktop.engine.events import ToolUse, TurnResult
from desktop.engine.skills.mcp_servers import McpServers
from tests.engine.conversation.test_tool_loop import ScriptedModel
from tests.engine.conversation.test_voice_loop import Session, silence

SERVER = Path(__file__).parent.parent / "skills" / "mcp_notes_server.py"


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("Yes.", "yes"),
        ("Yeah, go ahead.", "yes"),
        ("Okay!", "yes"),
        ("No.", "no"),
        ("No, don't.", "no"),
        ("Always.", "always"),
        ("Yes, always.", "always"),
        ("What is the capital of France?", None),
        ("Yes I think the capital is Paris, right?", None),
    ],
)
def test_answers_are_read_as_yes_no_or_always(said, answer):
    assert answer_of(said) == answer


def test_the_question_says_the_tool_as_words():
    assert question_for("notes", "add_note") == (
        "Shall I use add note from notes? Say yes, no, or always."
    )


@pytest.mark.parametrize(("reply", "runs"), [("Yes.", True), ("No.", False)])
def test_a_spoken_answer_lets_the_tool_run_or_not(fresh, say, tmp_path, reply, runs):
    notes = tmp_path / "notes.txt"
    call = ['<tool_call>{"name": "notes_add_note", "arguments": {"text": "milk"}}</tool_call>']
    model = ScriptedModel(call, ["Done."])
    assistant = Assistant(model, fresh.stt, fresh.tts, "Be brief.", skills=fresh.skills)
    assistant.tools.mcp = McpServers([f"{sys.executable} {SERVER} --notes {notes}"])
    answer = load_audio(say(reply, f"answer-{reply}"))
    mic = np.concatenate([silence(6), answer, silence(8)])  # "Shall I …" ends before 6 s
    session = Session(assistant, mic, echo_cancellation=False)
    assistant.tools.approve = session.loop.approve_by_voice
    try:
        session.loop.start()
        session.loop.ask("Please note milk.")
        deadline = time.monotonic() + 40
        while not session.of(TurnResult) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        session.room.finished.set()
        session.loop.stop()
        assistant.tools.close()
    [result] = session.of(TurnResult)
    [used] = [e for e in session.events if isinstance(e, ToolUse)]
    if runs:
        assert used.result == "noted: milk" and notes.read_text() == "milk\n"
    else:
        assert used.result.startswith("error: the user said no") and not notes.exists()
    assert not result.cancelled and result.reply == "Done."
