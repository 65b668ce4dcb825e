"""The duplex stream's worker, fed by hand: no sound device is needed to check what
it does with the blocks PortAudio's callback queues."""

import logging

import numpy as np

from desktop.engine.streams import BACKLOG_WARN_BLOCKS, Devices, DuplexStream


def block() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(160, np.float32), np.zeros(160, np.float32)


def test_a_backlog_of_microphone_audio_is_logged_once_and_its_end_too(caplog):
    seen = []
    stream = DuplexStream(
        Devices(None, None, 16_000, "mic", "speaker"), lambda m, r: seen.append(m)
    )
    for _ in range(BACKLOG_WARN_BLOCKS + 10):
        stream._blocks.put(block())  # what the audio callback does every 10 ms
    stream._blocks.put(None)
    with caplog.at_level(logging.INFO, logger="desktop.engine.streams"):
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
    with caplog.at_level(logging.INFO, logger="desktop.engine.streams"):
        stream._work()
    assert not caplog.records
