"""The tool approval dialog: each answer, Escape as no; and the engine side's wait for
the window's answer (EngineService._approve, on a thread, answered by a command)."""

import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.host.messages import Approval, ApprovalNeeded
from desktop.ui.approval import ask_to_run_tool

REQUEST = ApprovalNeeded(7, "notes", "add_note", {"text": "milk"})


def answer_with(qtbot, button_text):
    def click():
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        assert "add_note of the MCP server notes" in box.text()
        assert '"text": "milk"' in box.informativeText()
        if button_text is None:
            box.reject()  # Escape or the window's close button
            return
        [button] = [b for b in box.buttons() if b.text().replace("&", "") == button_text]
        button.click()

    QTimer.singleShot(200, click)


@pytest.mark.parametrize(
    ("button", "answer"),
    [
        ("Allow once", "yes"),
        ("Always allow this tool", "always"),
        ("Don't allow", "no"),
        (None, "no"),
    ],
)
def test_each_answer_of_the_dialog(qtbot, button, answer):
    answer_with(qtbot, button)
    assert ask_to_run_tool(None, REQUEST) == answer


def test_the_engine_waits_for_the_windows_answer():
    from desktop.host.engine_process import EngineService

    sent = []

    class Pipe:
        def send(self, message):
            sent.append(message)

    from desktop.config import Settings

    service = EngineService(Pipe(), Settings(), [])
    got = []
    asking = threading.Thread(target=lambda: got.append(service._approve("notes", "add_note", {})))
    asking.start()
    while not sent:
        threading.Event().wait(0.01)
    [request] = sent
    assert isinstance(request, ApprovalNeeded) and request.tool == "add_note"
    service._handle(Approval(request.request_id, "yes"))
    asking.join(timeout=5)
    assert got == ["yes"]
