"""MicClock: from a sample's index to when it was captured."""

from desktop.engine.audio.mic_clock import KEEP_BLOCKS, MicClock
from desktop.engine.audio.samples import STT_RATE


def test_a_sample_is_as_late_as_its_place_in_its_block():
    clock = MicClock()
    clock.mark(0, 10.0)
    clock.mark(160, 10.5)  # the next block came late: its own stamp counts
    assert clock.time_of(0) == 10.0
    assert clock.time_of(80) == 10.0 + 80 / STT_RATE
    assert clock.time_of(200) == 10.5 + 40 / STT_RATE


def test_before_the_oldest_block_kept_there_is_no_answer():
    clock = MicClock()
    for block in range(KEEP_BLOCKS + 10):
        clock.mark(block * 160, block / 100)
    assert clock.time_of(5 * 160) is None
    assert clock.time_of((KEEP_BLOCKS + 9) * 160) == (KEEP_BLOCKS + 9) / 100
