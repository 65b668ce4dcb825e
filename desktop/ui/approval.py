"""The user's yes before a chat model runs a tool of an MCP server.

MCP servers are programs the user added; what their tools do (write a file, send a
message) is theirs. So each call is shown with its arguments and runs only after
"Allow once" or "Always allow" (kept per tool); Escape and closing mean no.
"""

from __future__ import annotations

import json

from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.host.messages import ApprovalNeeded


def ask_to_run_tool(parent: QWidget, request: ApprovalNeeded) -> str:
    """Ask in a dialog; "yes", "no" or "always"."""
    box = QMessageBox(parent)
    box.setObjectName("approve_tool")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Allow a tool?")
    box.setText(f"The model wants to use {request.tool} of the MCP server {request.server}.")
    box.setInformativeText(json.dumps(request.arguments, ensure_ascii=False, indent=1)[:2000])
    once = box.addButton("Allow &once", QMessageBox.ButtonRole.AcceptRole)
    always = box.addButton("&Always allow this tool", QMessageBox.ButtonRole.AcceptRole)
    refuse = box.addButton("&Don't allow", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(refuse)
    box.setEscapeButton(refuse)
    box.exec()
    clicked = box.clickedButton()
    if clicked is once:
        return "yes"
    if clicked is always:
        return "always"
    return "no"
