"""The tray icon: push-to-talk and quit without finding the window."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from desktop.ui.icons import app_icon


class Tray(QSystemTrayIcon):
    """Clicking the icon shows the window; the menu talks, shows or quits."""

    talk_toggled = Signal(bool)
    show_window = Signal()
    quit = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(app_icon(), parent)
        self.setToolTip("Parley")
        menu = QMenu(parent)
        self.talk = QAction("&Push to talk", menu, checkable=True)
        self.talk.toggled.connect(self.talk_toggled)
        menu.addAction(self.talk)
        menu.addAction("&Show Parley", self.show_window)
        menu.addSeparator()
        menu.addAction("&Quit", self.quit)
        self.setContextMenu(menu)
        self.activated.connect(self._activated)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.show_window.emit()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()
