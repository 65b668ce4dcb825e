"""The window's parts on their own: chat bubbles, captions, voice bar, tray menu."""

from PySide6.QtCore import Qt

from desktop.ui.captions import CaptionView, palette_for
from desktop.ui.chat_view import ChatView, timing_line
from desktop.ui.voice_bar import VoiceBar, meter_value


def test_reasoning_is_folded_away_until_asked_for(qtbot):
    chat = ChatView()
    qtbot.addWidget(chat)
    chat.show()
    chat.add_user("Is 7 prime?")
    pieces = [
        ("Check divisors", True),
        (" 2 and 3.", True),
        ("Yes,", False),
        (" 7 is prime.", False),
    ]
    for piece, thinking in pieces:
        chat.add_token(piece, thinking)
    reply = chat.reply
    assert reply.text.strip() == "Yes, 7 is prime."
    qtbot.waitUntil(reply.reasoning_toggle.isVisible)  # new widgets show on the next loop
    assert not reply.reasoning.isVisible()
    qtbot.mouseClick(reply.reasoning_toggle, Qt.MouseButton.LeftButton)
    assert reply.reasoning.isVisible() and reply.reasoning_toggle.text() == "Hide reasoning"
    assert reply.reasoning.text() == "Check divisors 2 and 3."
    assert "Yes" not in reply.reasoning.text()


def test_a_plain_reply_has_no_reasoning_toggle(qtbot):
    chat = ChatView()
    qtbot.addWidget(chat)
    chat.show()
    chat.add_token("Paris.")
    chat.finish_reply({"llm_first_token_ms": 120.4, "tokens_per_s": 41.0})
    (reply,) = chat.bubbles
    assert reply.reasoning_toggle.isHidden()
    assert reply.footer.text() == "first word 120 ms · 41 tokens/s"
    assert chat.reply is None


def test_timing_line_skips_stages_that_did_not_run():
    assert timing_line({"stt_ms": None, "llm_first_token_ms": None}) == ""
    assert timing_line({"stt_ms": 96.0, "first_audio_ms": 369.2}) == (
        "transcribed in 96 ms · first clause 369 ms"
    )


def test_placeholder_shows_only_while_the_conversation_is_empty(qtbot):
    chat = ChatView()
    qtbot.addWidget(chat)
    chat.show()
    assert not chat.placeholder.isHidden()
    chat.add_user("Hello")
    assert chat.placeholder.isHidden()
    chat.clear()
    assert not chat.placeholder.isHidden()


def test_captions_keep_both_sides_and_the_live_line(qtbot):
    captions = CaptionView(size=30)
    qtbot.addWidget(captions)
    captions.heard("what is the")
    assert "what is the" in captions.live.text()
    captions.user_said("What is the time?")
    assert captions.live.text() == ""
    captions.parley_writes("It is")
    captions.parley_writes(" noon.")
    captions.reply_done()
    assert captions.lines == [("user", "What is the time?"), ("parley", "It is noon.")]
    assert captions.set_size(500) == 72 and captions.history.font().pointSize() == 72
    assert palette_for(dark=True)["background"] == "#000000"
    assert palette_for(dark=False)["parley"] == "#000000"


def test_caption_text_is_escaped(qtbot):
    captions = CaptionView()
    qtbot.addWidget(captions)
    captions.user_said("<b>not bold</b> & <script>")
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; &lt;script&gt;" in captions.history.text()


def test_meter_maps_decibels_onto_the_bar():
    assert meter_value(-100) == 0 and meter_value(-60) == 0
    assert meter_value(-30) == 50 and meter_value(0) == 100 and meter_value(6) == 100


def test_click_latches_listening_and_hold_releases(qtbot, monkeypatch):
    bar = VoiceBar()
    qtbot.addWidget(bar)
    bar.set_voice_available(True)
    events = []
    bar.talk_started.connect(lambda: events.append("start"))
    bar.talk_ended.connect(lambda: events.append("end"))
    qtbot.mouseClick(bar.mic, Qt.MouseButton.LeftButton)  # a click: keeps listening
    assert events == ["start"] and bar.mic.isChecked()
    qtbot.mouseClick(bar.mic, Qt.MouseButton.LeftButton)  # a second click ends it
    assert events == ["start", "end"] and not bar.mic.isChecked()
    clock = iter([100.0, 101.0])  # a one-second hold
    monkeypatch.setattr("desktop.ui.voice_bar.time.monotonic", lambda: next(clock))
    qtbot.mousePress(bar.mic, Qt.MouseButton.LeftButton)
    qtbot.mouseRelease(bar.mic, Qt.MouseButton.LeftButton)
    assert events == ["start", "end", "start", "end"]


def test_without_a_microphone_the_voice_controls_are_off(qtbot):
    bar = VoiceBar()
    qtbot.addWidget(bar)
    bar.set_voice_available(False, "No microphone: type your questions")
    events = []
    bar.talk_started.connect(lambda: events.append("start"))
    bar.begin_talk()
    assert events == [] and not bar.mic.isEnabled()
    assert "No microphone" in bar.mic.toolTip()
    bar.set_state("thinking")
    assert bar.stop_button.isEnabled() and bar.state.text() == "Thinking…"
    bar.set_state("listening")
    assert not bar.stop_button.isEnabled()


def test_tray_menu_talks_shows_and_quits(qtbot):
    from PySide6.QtWidgets import QWidget

    from desktop.ui.tray import Tray

    owner = QWidget()
    qtbot.addWidget(owner)
    tray = Tray(owner)
    texts = [a.text() for a in tray.contextMenu().actions() if a.text()]
    assert texts == ["&Push to talk", "&Show Parley", "&Quit"]
    toggles = []
    tray.talk_toggled.connect(toggles.append)
    tray.talk.trigger()
    tray.talk.trigger()
    assert toggles == [True, False]


def test_tool_calls_are_folded_with_the_reasoning(qtbot):
    chat = ChatView()
    qtbot.addWidget(chat)
    chat.show()
    chat.add_user("Pasta!")
    chat.add_tool("start_timer(seconds=480) → Timer set for 8 minutes.")
    chat.add_token("Your timer is set.")
    reply = chat.reply
    qtbot.waitUntil(reply.reasoning_toggle.isVisible)
    assert reply.reasoning_toggle.text() == "Show tools used" and not reply.reasoning.isVisible()
    qtbot.mouseClick(reply.reasoning_toggle, Qt.MouseButton.LeftButton)
    assert reply.reasoning.text() == "Tool: start_timer(seconds=480) → Timer set for 8 minutes."
    chat.add_token("Let me think.", reasoning=True)
    assert reply.reasoning_toggle.text() == "Hide reasoning and tools used"
    assert reply.text.strip() == "Your timer is set."
