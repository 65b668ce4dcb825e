"""The duplex stream's worker, fed by hand: no sound device is needed to check what
it does with the blocks PortAudio's callback queues."""

import logging

import numpy as np

from desktop.engine.audio.streams import (
    BACKLOG_WARN_BLOCKS,
    Devices,
    DuplexStream,
    Playback,
    _Block,
)


def block() -> _Block:
    return _Block(np.zeros(160, np.float32), np.zeros(160, np.float32), 0.0, [])


def test_a_backlog_of_microphone_audio_is_logged_once_and_its_end_too(caplog):
    seen = []
    stream = DuplexStream(
        Devices(None, None, 16_000, "mic", "speaker"), lambda m, r: seen.append(m)
    )
    for _ in range(BACKLOG_WARN_BLOCKS + 10):
        stream._blocks.put(block())  # what the audio callback does every 10 ms
    stream._blocks.put(None)
    with caplog.at_level(logging.INFO, logger="desktop.engine.audio.streams"):
        stream._work()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("behind the microphone" in m for m in messages) == 1, messages
    assert any("caught up" in m for m in messages), messages
    assert sum(len(m) for m in seen) == (BACKLOG_WARN_BLOCKS + 10) * 160  # nothing lost


def test_no_backlog_no_warning(caplog):
    stream = DuplexStream(Devices(None, None, 16_000, "mic", "speaker"), lambda m, r: None)
    for _ in range(5):
        stream._blocks.put(block())
    stream._blocks.put(None)
    with caplog.at_level(logging.INFO, logger="desktop.engine.audio.streams"):
        stream._work()
    assert not caplog.records


def test_input_lag_is_how_much_later_the_microphone_is_than_at_its_best():
    """PortAudio's callback, called by hand with the times it reports (ALSA
    through PulseAudio gave 14-17 ms when fresh, 80-90 ms after a few underruns)."""
    from types import SimpleNamespace

    stream = DuplexStream(Devices(None, None, 16_000, "mic", "speaker"), lambda m, r: None)
    assert stream.input_lag_ms == 0.0  # nothing reported yet
    indata, outdata = np.zeros((160, 1), np.float32), np.zeros((160, 1), np.float32)
    for adc_age_s in (0.017, 0.014, 0.016, 0.082):
        times = SimpleNamespace(
            currentTime=100.0, inputBufferAdcTime=100.0 - adc_age_s, outputBufferDacTime=0.0
        )
        stream._callback(indata, outdata, 160, times, None)
    assert round(stream.input_delay_ms) == 82
    assert round(stream.input_lag_ms) == 68


def test_a_held_speaker_plays_silence_and_keeps_its_audio():
    playback = Playback(16000)
    reply = np.linspace(0.1, 0.5, 480, dtype=np.float32)
    playback.add(reply, 16000)
    out = np.ones(160, np.float32)
    assert playback.read_into(out) == 160
    playback.held = True
    assert playback.holding
    assert playback.read_into(out) == 0 and not out.any()
    playback.held = False
    assert playback.read_into(out) == 160
    np.testing.assert_array_equal(out, reply[160:320])  # on from where it paused


def test_clearing_ends_a_hold():
    playback = Playback(16000)
    playback.add(np.ones(320, np.float32), 16000)
    playback.held = True
    assert playback.clear() == 320
    assert not playback.held and not playback.holding
    playback.add(np.ones(160, np.float32), 16000)
    assert playback.read_into(np.zeros(160, np.float32)) == 160  # the next reply plays


def test_a_callback_thread_that_burns_a_core_is_reported_spinning():
    """PortAudio's callback is called by hand from a thread that spins between calls,
    as PortAudio's own thread did after underruns through PulseAudio's ALSA plugin;
    the worker (fed the same blocks) measures that thread once a second."""
    import threading
    import time
    from types import SimpleNamespace

    from desktop.engine.audio.streams import LOAD_EVERY_BLOCKS

    def callbacks_from_a_thread(spin: bool) -> DuplexStream:
        stream = DuplexStream(Devices(None, None, 16_000, "mic", "speaker"), lambda m, r: None)
        indata, outdata = np.zeros((160, 1), np.float32), np.zeros((160, 1), np.float32)
        times = SimpleNamespace(currentTime=0.0, inputBufferAdcTime=0.0, outputBufferDacTime=0.0)

        done, called = threading.Event(), threading.Event()

        def wait(seconds: float) -> None:
            end = time.monotonic() + seconds
            while spin and time.monotonic() < end:
                pass  # busy, as in the poll loop
            if not spin:
                time.sleep(seconds)

        def portaudio():
            for _ in range(2 * LOAD_EVERY_BLOCKS):
                stream._callback(indata, outdata, 160, times, None)
                wait(0.005)
            called.set()
            while not done.is_set():  # alive until the worker has looked at it
                wait(0.005)

        thread = threading.Thread(target=portaudio)
        thread.start()
        worker = threading.Thread(target=stream._work)
        worker.start()
        assert called.wait(10)
        while stream._blocks.qsize():
            time.sleep(0.01)
        time.sleep(0.05)  # the last block is being handled
        stream._blocks.put(None)
        worker.join()
        done.set()
        thread.join()
        return stream

    assert callbacks_from_a_thread(spin=True).callback_spinning
    calm = callbacks_from_a_thread(spin=False)
    assert not calm.callback_spinning and calm.callback_load < 0.3


def test_the_stream_says_when_the_microphone_heard_and_when_the_speaker_sounded():
    """PortAudio's clock, as its callback reports it: the block's first microphone
    sample was captured 20 ms before the callback, and its first speaker sample
    sounds 30 ms after it; a reply queued to begin 5 ms into that block."""
    import time
    from types import SimpleNamespace

    delivered, sounded = [], []
    stream = DuplexStream(
        Devices(None, None, 16_000, "mic", "speaker"),
        lambda m, r: delivered.append(stream.block_captured_at),
    )
    indata, outdata = np.zeros((160, 1), np.float32), np.zeros((160, 1), np.float32)
    times = SimpleNamespace(currentTime=5.0, inputBufferAdcTime=4.98, outputBufferDacTime=5.03)
    stream.playback.add(np.zeros(80, np.float32), 16_000)  # 5 ms of something else first
    stream.playback.add(np.full(400, 0.5, np.float32), 16_000, on_heard=sounded.append)
    before = time.perf_counter()
    stream._callback(indata, outdata, 160, times, None)
    after = time.perf_counter()
    stream._blocks.put(None)
    stream._work()
    assert before - 0.02 <= delivered[0] <= after - 0.02
    assert len(sounded) == 1 and before + 0.035 <= sounded[0] <= after + 0.035
    stream._callback(indata, outdata, 160, times, None)  # the rest of the reply
    assert stream.playback.started == []  # told once, at its first sample
