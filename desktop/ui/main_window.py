"""The main window: conversation, voice bar, text box, banner, menus.

All model work happens in the engine process; this window only sends
commands and shows events, so it never freezes, and an engine that dies is
restarted with the conversation kept.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop import __version__, paths
from desktop.config import Settings, save_settings
from desktop.engine.events import (
    Alarm,
    Failure,
    Heard,
    Level,
    Notice,
    SettingsChanged,
    State,
    Token,
    ToolUse,
    Transcript,
    TurnResult,
)
from desktop.errors import ConfigError, ModelError
from desktop.history.export import tool_call_line
from desktop.history.recorder import Recorder
from desktop.history.store import Conversation, HistoryError
from desktop.host.messages import (
    Approval,
    ApprovalNeeded,
    Ask,
    EngineGaveUp,
    EngineRestarted,
    LoadFailed,
    Loading,
    NewConversation,
    Press,
    Ready,
    Release,
    Resume,
    SetHandsFree,
    StopReply,
    Tune,
)
from desktop.ui.approval import ask_to_run_tool
from desktop.ui.banner import Banner, sentence
from desktop.ui.bridge import EngineBridge
from desktop.ui.captions import CaptionView
from desktop.ui.chat_view import ChatView
from desktop.ui.first_run import FirstRunPage
from desktop.ui.history_panel import HistoryPanel
from desktop.ui.icons import app_icon
from desktop.ui.tray import Tray
from desktop.ui.voice_bar import VoiceBar

log = logging.getLogger(__name__)


def _is_model_file(path: str) -> bool:
    return bool(path) and Path(path).suffix.lower() in (".gguf", ".onnx")


TEXT_INPUTS = (QLineEdit, QPlainTextEdit, QTextEdit, QAbstractSpinBox, QComboBox)
NOTICE_MS = 10_000


class MainWindow(QMainWindow):
    """Parley's window. ``shown`` fires once it is first painted, ``ready`` when the
    engine can listen, ``turn_finished`` after each reply (tests and benchmarks wait
    on them)."""

    ready = Signal()
    turn_finished = Signal(object)
    shown = Signal()

    def __init__(self, settings: Settings, debug: bool = False) -> None:
        super().__init__()
        self.settings = settings
        self.bridge = EngineBridge(settings, debug=debug)
        self.bridge.event.connect(self.on_engine_event)
        self.engine_ready = False
        self.voice_available = False
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self._typed: deque[str] = deque()  # typed questions already shown, awaiting echo
        self._shown_once = False
        self.setWindowTitle("Parley")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)  # drop a model file to import it
        self.resize(1000, 680)
        self._build()
        self.recorder = Recorder.open(settings.keep_history, self._history_problem)
        self.bridge.host.recorder = self.recorder
        self._build_history()
        self._build_timers()
        self._build_menus()
        self.tray = Tray(self) if Tray.available() else None
        if self.tray is not None:
            self.tray.talk_toggled.connect(self._tray_talk)
            self.tray.show_window.connect(self._raise)
            self.tray.quit.connect(self.close)
            self.tray.show()
        QApplication.instance().installEventFilter(self)
        QApplication.styleHints().colorSchemeChanged.connect(lambda _: self.captions.apply_theme())

    # -- building -------------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = Banner()
        self.banner.details.connect(self.open_log_folder)
        self.chat = ChatView()
        self.captions = CaptionView(self.settings.caption_size)
        self.first_run = FirstRunPage()
        self.first_run.add_model.connect(self.choose_model_file)
        self.first_run.check_again.connect(self.start_engine)
        self.pages = QStackedWidget()
        for page in (self.chat, self.captions, self.first_run):
            self.pages.addWidget(page)
        self.voice_bar = VoiceBar()
        self.voice_bar.hands_free.setChecked(self.settings.hands_free)
        self.voice_bar.talk_started.connect(lambda: self.bridge.send(Press()))
        self.voice_bar.talk_ended.connect(lambda: self.bridge.send(Release()))
        self.voice_bar.stop.connect(self.stop_reply)
        self.voice_bar.hands_free_changed.connect(self.set_hands_free)
        self.input = QLineEdit()
        self.input.setObjectName("question")
        self.input.setPlaceholderText(
            "Type a question and press Enter (Space on an empty box: talk)"
        )
        self.input.setAccessibleName("Question")
        self.input.returnPressed.connect(self.send_typed)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("send")
        self.send_button.clicked.connect(self.send_typed)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.voice_bar)
        layout.addLayout(row)
        self.setCentralWidget(central)
        self.status_text = QLabel()
        self.status_text.setObjectName("status")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setAccessibleName("Loading")
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.busy)
        self.busy.hide()
        # Tab order: the question, Send, then the voice controls.
        QWidget.setTabOrder(self.input, self.send_button)
        QWidget.setTabOrder(self.send_button, self.voice_bar.mic)
        QWidget.setTabOrder(self.voice_bar.mic, self.voice_bar.hands_free)
        QWidget.setTabOrder(self.voice_bar.hands_free, self.voice_bar.stop_button)
        self.input.setFocus()
        if self.settings.caption_mode:
            self.pages.setCurrentWidget(self.captions)

    def _build_history(self) -> None:
        self.history = HistoryPanel(self.recorder.store)
        self.history.open_requested.connect(self.continue_conversation)
        self.history.failed.connect(lambda message: self.banner.show_error(message))
        self.history_dock = self._dock("Conversations", "history_dock", self.history)
        self.resizeDocks([self.history_dock], [250], Qt.Orientation.Horizontal)

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        """A panel on the left that can be closed and moved (View menu brings it back)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        return dock

    def _build_timers(self) -> None:
        from desktop.engine.skills.timers import TimerStore
        from desktop.errors import ParleyError
        from desktop.ui.timers_panel import TimersPanel

        try:
            store = TimerStore()
        except ParleyError as exc:
            store = None
            self.banner.show_error(exc.message, exc.hint)
        self.timers = TimersPanel(store)
        self.timers.failed.connect(lambda message: self.banner.show_error(sentence(message)))
        self.timers_dock = self._dock("Timers", "timers_dock", self.timers)
        self.timers.changed.connect(lambda count: self.timers_dock.setVisible(count > 0))
        self.timers_dock.setVisible(self.timers.count > 0)

    def _history_problem(self, message: str) -> None:
        """The history could not be opened or written: say so once; talking goes on."""
        self.banner.show_error(sentence(message))

    def _build_menus(self) -> None:
        def action(menu, text, slot, shortcut=None, checkable=False):  # noqa: ANN001, ANN202
            item = QAction(text, self, checkable=checkable)
            if shortcut is not None:
                item.setShortcut(QKeySequence(shortcut))
            item.triggered.connect(slot)
            menu.addAction(item)
            return item

        conversation = self.menuBar().addMenu("&Conversation")
        action(
            conversation, "&New conversation", self.new_conversation, QKeySequence.StandardKey.New
        )
        action(conversation, "&Stop reply", self.stop_reply, Qt.Key.Key_Escape)
        action(conversation, "&Type a question", self.input.setFocus, "Ctrl+L")
        conversation.addSeparator()
        action(conversation, "&Models…", self.open_models, "Ctrl+M")
        settings = action(conversation, "S&ettings…", self.open_settings)
        settings.setShortcuts(
            [
                QKeySequence("Ctrl+,"),
                *QKeySequence.keyBindings(QKeySequence.StandardKey.Preferences),
            ]
        )
        conversation.addSeparator()
        action(conversation, "&Quit", self.close, "Ctrl+Q")
        view = self.menuBar().addMenu("&View")
        conversations = self.history_dock.toggleViewAction()
        conversations.setText("C&onversations")
        conversations.setShortcut(QKeySequence("Ctrl+H"))
        view.addAction(conversations)
        timers = self.timers_dock.toggleViewAction()
        timers.setText("&Timers")
        timers.setShortcut(QKeySequence("Ctrl+T"))
        view.addAction(timers)
        action(view, "&Search conversations", self.search_history, QKeySequence.StandardKey.Find)
        self.caption_action = action(
            view, "&Caption mode", self.set_caption_mode, "Ctrl+Shift+C", checkable=True
        )
        self.caption_action.setChecked(self.settings.caption_mode)
        larger = action(view, "&Larger text", lambda: self.change_text_size(+4))
        larger.setShortcuts([QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")])
        action(view, "&Smaller text", lambda: self.change_text_size(-4), "Ctrl+-")
        help_menu = self.menuBar().addMenu("&Help")
        action(help_menu, "Open &log folder", self.open_log_folder)
        action(help_menu, "&Network activity…", self.show_network_activity)
        action(help_menu, "&About Parley", self.about)

    # -- engine ---------------------------------------------------------------------------

    def start_engine(self) -> None:
        """Start (or, from the first-run page, restart) the engine, or explain what is missing."""
        from desktop.library import registry

        try:
            registry.resolve("llm", self.settings)
        except ModelError as exc:
            log.info("first run: %s", exc.message)
            self.first_run.set_reason(exc.message, exc.hint)
            self.pages.setCurrentWidget(self.first_run)
            self.voice_bar.set_state("offline")
            return
        self._show_page()
        self.engine_ready = False
        self.voice_bar.set_state("starting")
        self.busy.show()
        self.status_text.setText("Starting the engine…")
        if self.bridge.host.running or self.bridge.host.pid is not None:
            self.bridge.restart(self.settings)
        else:
            self.bridge.start()

    def on_engine_event(self, event: object) -> None:
        """Every engine event arrives here, on the GUI thread."""
        if isinstance(event, Level):
            self.voice_bar.set_level(event.dbfs)
        elif isinstance(event, Token):
            self.chat.add_token(event.text, event.reasoning)
            if not event.reasoning:
                self.captions.parley_writes(event.text)
        elif isinstance(event, Transcript):
            self._on_transcript(event)
        elif isinstance(event, State):
            self.voice_bar.set_state(event.name)
        elif isinstance(event, Heard):
            self.chat.note_heard(event.voice_to_voice_ms)
        elif isinstance(event, TurnResult):
            self.chat.finish_reply(event.timings, "stopped" if event.cancelled else "")
            self.captions.reply_done()
            self.history.current_id = self.recorder.conversation_id
            self.history.refresh()
            self.turn_finished.emit(event)
        elif isinstance(event, Loading):
            self.status_text.setText(sentence(event.message) + "…")
        elif isinstance(event, Ready):
            self._on_ready(event)
        elif isinstance(event, Notice):
            self.statusBar().showMessage(sentence(event.message), NOTICE_MS)
        elif isinstance(event, ApprovalNeeded):
            self.bridge.send(Approval(event.request_id, ask_to_run_tool(self, event)))
        elif isinstance(event, ToolUse):
            self.chat.add_tool(tool_call_line(asdict(event)))
        elif isinstance(event, SettingsChanged):
            self._save(self.settings.replace(**event.values))  # "speak slower", kept
        elif isinstance(event, Alarm):
            self.chat.add_alarm(event.text)
            self.captions.parley_writes(event.text)
            self.captions.reply_done()
            self.timers.refresh()
        elif isinstance(event, Failure):
            self._interrupt_reply("failed")
            self.banner.show_error(event.message, event.hint)
        elif isinstance(event, LoadFailed):
            self.busy.hide()
            self.status_text.setText("The engine could not start")
            self.banner.show_error(event.message, event.hint)
            self.first_run.set_reason(event.message, event.hint)
            self.pages.setCurrentWidget(self.first_run)
            self.voice_bar.set_state("offline")
        elif isinstance(event, EngineRestarted):
            self._interrupt_reply("interrupted")
            self.engine_ready = False
            self.voice_bar.set_state("starting")
            self.banner.show_error(
                f"Restarted the engine: {event.reason}",
                "The conversation is kept. Details are in the log.",
            )
        elif isinstance(event, EngineGaveUp):
            self._interrupt_reply("interrupted")
            self.voice_bar.set_state("offline")
            self.banner.show_error(
                f"The engine keeps stopping ({event.reason})",
                "Try another model in Settings; details are in the log",
            )

    def _on_ready(self, event: Ready) -> None:
        self.engine_ready = True
        self.voice_available = event.voice
        self.inputs, self.outputs = event.inputs, event.outputs
        self.busy.hide()
        llm = event.models.get("llm") or ""
        llm = llm if " at http" in llm else llm.rsplit("/", 1)[-1]  # a remote, or a file name
        self.status_text.setText(f"{llm}{'' if event.voice else ' · text only'}")
        log.info("engine ready: %s%s", llm, "" if event.voice else " (text only: no microphone)")
        self.voice_bar.set_voice_available(event.voice, "No microphone: type your questions")
        if not event.voice:
            self.voice_bar.set_state("idle")
        self.ready.emit()

    def _on_transcript(self, event: Transcript) -> None:
        if not event.final:
            self.voice_bar.set_caption(event.text)
            self.captions.heard(event.text)
            return
        self.voice_bar.set_caption("")
        if self._typed and self._typed[0] == event.text:
            self._typed.popleft()  # a typed question, already on screen
            return
        self.chat.add_user(event.text)
        self.captions.user_said(event.text)

    def _interrupt_reply(self, note: str) -> None:
        if self.chat.reply is not None:
            self.chat.finish_reply({}, note)
            self.captions.reply_done()

    # -- user actions ---------------------------------------------------------------------

    def send_typed(self) -> None:
        text = self.input.text().strip()
        if not text:
            return
        self.input.clear()
        self.chat.add_user(text)
        self.captions.user_said(text)
        self._typed.append(text)
        self.bridge.send(Ask(text))

    def stop_reply(self) -> None:
        self.bridge.send(StopReply())

    def new_conversation(self) -> None:
        self.bridge.send(NewConversation())
        self._clear_conversation()
        self.setWindowTitle("Parley")
        self.history.current_id = None
        self.history.refresh()

    def continue_conversation(self, conversation_id: int) -> None:
        """Show a saved conversation and carry it on: the engine gets its exchanges."""
        try:
            conversation = self.recorder.resume(conversation_id)
        except HistoryError as exc:
            self.banner.show_error(exc.message, exc.hint)
            return
        self.bridge.send(Resume(conversation.messages()))
        self._show_saved(conversation)
        self.history.current_id = conversation.id
        self.history.refresh()
        self.input.setFocus()

    def search_history(self) -> None:
        self.history_dock.show()
        self.history.search.setFocus()
        self.history.search.selectAll()

    def _clear_conversation(self) -> None:
        self._typed.clear()
        self.chat.clear()
        self.captions.lines.clear()
        self.captions.heard("")

    def _show_saved(self, conversation: Conversation) -> None:
        self._clear_conversation()
        for turn in conversation.turns:
            self.chat.add_user(turn.question)
            self.captions.user_said(turn.question)
            if turn.reasoning:
                self.chat.add_token(turn.reasoning, reasoning=True)
            for call in turn.tools:
                self.chat.add_tool(tool_call_line(call))
            if turn.reply:
                self.chat.add_token(turn.reply)
                self.captions.parley_writes(turn.reply)
            self.chat.finish_reply({}, "stopped" if turn.cancelled else "")
            self.captions.reply_done()
        self.setWindowTitle(f"{conversation.title} — Parley")

    def set_hands_free(self, on: bool) -> None:
        self.bridge.send(SetHandsFree(on))
        self._save(self.settings.replace(hands_free=on))

    def set_caption_mode(self, on: bool) -> None:
        self._save(self.settings.replace(caption_mode=on))
        self._show_page()

    def change_text_size(self, step: int) -> None:
        size = self.captions.set_size(self.captions.size + step)
        self._save(self.settings.replace(caption_size=size))

    def open_settings(self) -> None:
        from desktop.library import registry
        from desktop.ui.settings_dialog import SettingsDialog, needs_engine_restart

        dialog = SettingsDialog(
            self.settings, registry.all_models(), self.inputs, self.outputs, self
        )
        if not dialog.exec():
            return
        old, new = self.settings, dialog.result_settings()
        if not self._save(new):
            return
        if new.keep_history != old.keep_history:
            self._set_recorder(Recorder.open(new.keep_history, self._history_problem))
        self.voice_bar.hands_free.blockSignals(True)
        self.voice_bar.hands_free.setChecked(new.hands_free)
        self.voice_bar.hands_free.blockSignals(False)
        if needs_engine_restart(old, new):
            self.status_text.setText("Restarting the engine with the new settings…")
            self.start_engine()
        else:
            self.bridge.send(Tune(new.temperature, new.max_tokens, new.system_prompt))
            if new.hands_free != old.hands_free:
                self.bridge.send(SetHandsFree(new.hands_free))
            self.statusBar().showMessage("Settings applied", NOTICE_MS)

    def open_models(self) -> None:
        from desktop.ui.model_manager import ModelManager

        manager = ModelManager(self.settings, self)
        manager.settings_chosen.connect(self._use_settings)
        manager.exec()

    def _use_settings(self, settings: Settings) -> None:
        from desktop.ui.settings_dialog import needs_engine_restart

        old = self.settings
        if self._save(settings) and needs_engine_restart(old, settings):
            self.start_engine()

    def import_dropped(self, path: str) -> None:
        """A model file dropped on the window: check and copy it, off the GUI thread."""
        from desktop.ui.model_manager import Worker, import_model

        self.status_text.setText(f"Checking {Path(path).name}…")
        self._import_worker = Worker()
        self._import_worker.finished.connect(
            lambda added: self.statusBar().showMessage(
                f"Imported {added.name}; choose it in Models or Settings", NOTICE_MS
            )
        )
        self._import_worker.failed.connect(lambda message: self.banner.show_error(message))
        self._import_worker.run(import_model, path)

    def dragEnterEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        if any(_is_model_file(url.toLocalFile()) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        for url in event.mimeData().urls():
            if _is_model_file(url.toLocalFile()):
                self.import_dropped(url.toLocalFile())
        event.acceptProposedAction()

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a chat model", str(paths.models_dir()), "GGUF models (*.gguf)"
        )
        if path and self._save(self.settings.replace(llm_model=path)):
            self.banner.hide()
            self.start_engine()

    def open_log_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.log_dir())))

    def show_network_activity(self) -> None:
        """What, if anything, left this device (the offline guard's record)."""
        from desktop.ui.network_dialog import NetworkDialog

        NetworkDialog(self, mcp_servers=self.settings.mcp_servers).exec()

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About Parley",
            f"<b>Parley {__version__}</b><p>A private voice assistant: every model runs on "
            f"this computer.</p><p>Logs: {paths.log_dir()}</p>",
        )

    # -- helpers --------------------------------------------------------------------------

    def _save(self, settings: Settings) -> bool:
        try:
            save_settings(settings)
        except ConfigError as exc:
            self.banner.show_error(exc.message, exc.hint)
            return False
        self.settings = settings
        self.bridge.host.settings = settings
        return True

    def _set_recorder(self, recorder: Recorder) -> None:
        old, self.recorder = self.recorder, recorder
        self.bridge.host.recorder = recorder
        self.history.set_store(recorder.store)
        old.close()

    def _show_page(self) -> None:
        self.pages.setCurrentWidget(self.captions if self.settings.caption_mode else self.chat)

    def _tray_talk(self, on: bool) -> None:
        (self.voice_bar.begin_talk if on else self.voice_bar.end_talk)()

    def _raise(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def _space_talks(self) -> bool:
        """Space is push-to-talk unless it is typing or pressing a focused control
        (an empty question box counts as free: a leading space means nothing)."""
        focus = QApplication.focusWidget()
        if focus is self.input:
            return not self.input.text()
        return not isinstance(focus, TEXT_INPUTS + (QAbstractButton,))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        kind = event.type()
        if kind == QEvent.Type.Paint and not self._shown_once and watched is self.centralWidget():
            self._shown_once = True  # "shown" means painted, not merely mapped
            QTimer.singleShot(0, self.shown.emit)
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and self.isActiveWindow():
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if key_event.key() == Qt.Key.Key_Space and not key_event.modifiers():
                if watched is QApplication.focusWidget() and self._space_talks():
                    if not key_event.isAutoRepeat():
                        if kind == QEvent.Type.KeyPress:
                            self.voice_bar.begin_talk()
                        else:
                            self.voice_bar.end_talk(allow_latch=False)
                    return True
        return super().eventFilter(watched, event)

    def closeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        QApplication.instance().removeEventFilter(self)
        if self.tray is not None:
            self.tray.hide()
        self.bridge.stop()
        self.recorder.close()
        super().closeEvent(event)
