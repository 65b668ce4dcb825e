"""The hub answering the real wyoming-satellite: spoken questions in, spoken replies out.

Everything is real except the satellite's microphone and speaker, which are
files (a paced WAV and a raw file): wyoming-satellite 1.0.0 from PyPI in its
own venv, the Wyoming protocol on a loopback TCP port, the starter models.
"""

from __future__ import annotations

import threading
import time

import pytest

from desktop.engine.events import Transcript, TurnResult
from desktop.history.recorder import Recorder
from desktop.history.store import HistoryStore
from desktop.satellites.hub import Hub
from tests.conftest import to_16k, words
from tests.satellites.rig import SND_RATE, Satellite

pytestmark = pytest.mark.timeout(300)


class HubThread:
    """The hub on its own thread, its events collected per device name."""

    def __init__(self, assistant, uris: list[str], recorder=None):
        self.events: list[tuple[str, object]] = []
        self.statuses: list[tuple[str, str, str]] = []
        self.finished_at: list[float] = []  # wall-clock time each TurnResult came
        self.lock = threading.Lock()
        self.hub = Hub(
            assistant, uris, on_status=self._status, on_event=self._event, recorder=recorder
        )
        self.thread = threading.Thread(target=self.hub.run, daemon=True)

    def _status(self, device, message: str) -> None:
        with self.lock:
            self.statuses.append((device.name, device.state, message))

    def _event(self, device, event) -> None:
        with self.lock:
            self.events.append((device.name, event))
            if isinstance(event, TurnResult):
                self.finished_at.append(time.time())

    def __enter__(self) -> HubThread:
        self.thread.start()
        assert self.hub.wait_ready(60)
        return self

    def __exit__(self, *exc) -> None:
        self.hub.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the hub did not stop"

    def results(self, name: str) -> list[TurnResult]:
        with self.lock:
            return [e for n, e in self.events if n == name and isinstance(e, TurnResult)]

    def transcripts(self, name: str) -> list[str]:
        with self.lock:
            return [
                e.text
                for n, e in self.events
                if n == name and isinstance(e, Transcript) and e.final
            ]

    def wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; statuses: {self.statuses[-6:]}")


def heard_words(satellite: Satellite, stt) -> list[str]:
    audio = satellite.received()
    assert audio.size > SND_RATE // 2, "the satellite's speaker got (almost) nothing"
    return words(stt.transcribe(to_16k(audio * 32768.0, SND_RATE)))


def test_a_real_satellite_is_answered_aloud_while_the_reply_is_written(assistant, say, tmp_path):
    question = say("How do I make a cup of tea?", "sat-tea")  # a reply of several clauses
    satellite = Satellite(tmp_path, "kitchen", [question]).start()
    store = HistoryStore(tmp_path / "history.db")
    try:
        with HubThread(assistant, [satellite.uri], Recorder(store, print)) as hub:
            hub.wait_for(lambda: hub.results("kitchen"), 90, "the satellite's turn")
            # The reply's audio ends with audio-stop, and the satellite's player exits.
            hub.wait_for(lambda: satellite.replies_started(), 30, "the reply's audio")
            time.sleep(4)
        result = hub.results("kitchen")[0]
        assert {"make", "cup", "tea"} <= set(words(result.transcript)), result.transcript
        said = words(result.reply)
        heard = heard_words(satellite, assistant.stt)
        shared = set(said) & set(heard)
        assert len(shared) >= max(2, len(set(said)) // 3), (said, heard)
        # The first audio reached the device's speaker before the reply was written.
        assert satellite.replies_started()[0] < hub.finished_at[0]
        names = [name for name, _, _ in hub.statuses]
        assert "kitchen" in names  # the device named itself (info) and is shown by that name
        saved = store.conversations()
        assert [c.title for c in saved] == ["kitchen"]  # its own conversation, by its name
        assert store.get(saved[0].id).turns[0].question == result.transcript
    finally:
        satellite.stop()
        store.close()


def test_two_satellites_talking_at_once_each_get_their_own_answer(assistant, say, tmp_path):
    tea = Satellite(tmp_path, "hall", [say("How do I make a cup of tea?", "sat-tea")])
    france = Satellite(tmp_path, "glasses", [say("What is the capital of France?", "sat-fr")])
    for satellite in (tea, france):
        satellite.start()
    try:
        with HubThread(assistant, [tea.uri, france.uri]) as hub:
            hub.wait_for(lambda: hub.results("hall") and hub.results("glasses"), 120, "both turns")
            hub.wait_for(
                lambda: len(tea.replies_started()) >= 2 and len(france.replies_started()) >= 2,
                30,
                "both replies' audio",
            )
            time.sleep(3)
        assert "tea" in words(hub.results("hall")[0].transcript)
        assert "france" in words(hub.results("glasses")[0].transcript)
        for satellite, name, other in ((tea, "hall", "glasses"), (france, "glasses", "hall")):
            mine = set(words(hub.results(name)[0].reply))
            theirs = set(words(hub.results(other)[0].reply))
            heard = set(heard_words(satellite, assistant.stt))
            assert len(heard & (mine - theirs)) > len(heard & (theirs - mine)), (name, heard)
    finally:
        tea.stop()
        france.stop()


def test_a_satellite_killed_mid_reply_leaves_the_other_unaffected_and_comes_back(
    assistant, say, tmp_path
):
    talker = Satellite(tmp_path, "pendant", [say("How do I make a cup of tea?", "sat-tea")])
    # The other asks later, after the first one is gone.
    other = Satellite(
        tmp_path, "glasses", [say("What is the capital of France?", "sat-fr")], lead_s=10.0
    )
    talker.start()
    other.start()
    try:
        with HubThread(assistant, [talker.uri, other.uri]) as hub:
            hub.wait_for(lambda: len(talker.replies_started()) >= 2, 90, "pendant's reply")
            talker.kill()  # mid-reply: the tea answer is ~25 s long
            hub.wait_for(
                lambda: any(n == "pendant" and state == "offline" for n, state, _ in hub.statuses),
                15,
                "the hub to see pendant gone",
            )
            hub.wait_for(lambda: hub.results("glasses"), 90, "glasses' turn")
            assert "france" in words(hub.results("glasses")[0].transcript)
            assert hub.results("pendant")[0].cancelled  # the dropped device's turn ended
            talker.questions = []
            talker.start()  # the device is back on the same port
            hub.wait_for(
                lambda: any(m.startswith("back: pendant") for _, _, m in hub.statuses),
                40,
                "pendant to be reconnected",
            )
    finally:
        talker.stop()
        other.stop()


def test_a_satellite_waiting_on_the_busy_model_hears_one_moment(assistant, say, tmp_path):
    """'Tell me a story' ends first and holds the model for a long reply; the other
    device's question ends just after: rather than silence, it hears "one moment"
    first, then its answer."""
    story = Satellite(
        tmp_path, "pendant", [say("Tell me a long story about a dragon.", "sat-dragon")]
    )
    # Its question (shorter) ends about half a second after the story's.
    france = Satellite(
        tmp_path, "glasses", [say("What is the capital of France?", "sat-fr")], lead_s=2.0
    )
    for satellite in (story, france):
        satellite.start()
    try:
        with HubThread(assistant, [story.uri, france.uri]) as hub:
            hub.wait_for(lambda: hub.results("glasses"), 120, "glasses' turn")
            france.wait_until_quiet()  # (the story goes on: it is not waited for)
        heard = " ".join(heard_words(france, assistant.stt))
        assert "one moment" in heard, heard
        assert heard.index("one moment") < heard.index("paris"), heard
        assert "one moment" not in " ".join(heard_words(story, assistant.stt))
    finally:
        story.stop()
        france.stop()


def test_a_timer_set_on_a_satellite_rings_on_that_satellite(assistant, say, tmp_path):
    from desktop.engine.events import Alarm

    # "Start": tiny.en hears the fixture voice's "Set a timer" as "Share to timer".
    request = say("Start a timer for three seconds.", "sat-timer")
    satellite = Satellite(tmp_path, "kitchen", [request]).start()
    try:
        with HubThread(assistant, [satellite.uri]) as hub:
            hub.wait_for(lambda: hub.results("kitchen"), 90, "the satellite's turn")
            [result] = hub.results("kitchen")
            assert result.intent == "HassStartTimer", result.transcript
            [timer] = assistant.skills.store.pending()
            assert timer.device == satellite.uri  # the hub's conversation of that device

            def rang():
                with hub.lock:
                    return [e for n, e in hub.events if n == "kitchen" and isinstance(e, Alarm)]

            hub.wait_for(rang, 30, "the timer ringing on the satellite")
            time.sleep(5)  # the chime and the message reach the satellite's speaker
        assert rang()[0].text == "Your 3 second timer is done."
        assert "done" in heard_words(satellite, assistant.stt)
    finally:
        satellite.stop()
        for timer in assistant.skills.store.pending():
            assistant.skills.store.cancel(timer.id)
