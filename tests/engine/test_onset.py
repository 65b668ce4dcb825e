"""VoiceOnset: a jump in the echo-cancelled level while Parley talks (levels in dBFS)."""

from desktop.engine.onset import ARMED_AFTER_BLOCKS, VoiceOnset


def fed(levels: list[float], onset: VoiceOnset | None = None) -> list[int]:
    """Indexes of the blocks at which the detector fired."""
    onset = onset or VoiceOnset()
    return [i for i, level in enumerate(levels) if onset.push(level)]


RESIDUAL = [-75.0, -70.0, -80.0, -72.0] * 15  # a canceller that keeps the echo well down


def test_a_voice_rising_over_the_residual_echo_is_seen_within_a_few_blocks() -> None:
    ramp = [-60.0, -48.0, -40.0, -33.0, -30.0, -28.0]  # measured shape: ~10 dB per 10 ms
    hits = fed(RESIDUAL + ramp)
    assert hits and hits[0] - len(RESIDUAL) <= 3, hits


def test_residual_echo_alone_never_fires() -> None:
    assert fed(RESIDUAL * 5) == []


def test_a_click_of_one_block_is_not_a_voice() -> None:
    assert fed(RESIDUAL + [-20.0] + RESIDUAL) == []


def test_a_loud_residual_raises_the_bar() -> None:
    # The canceller slipping: its residual reaches -40 dBFS, so a rise to -35 is not news.
    slipping = [-50.0, -40.0, -45.0, -42.0] * 15
    assert fed(slipping + [-35.0, -34.0, -35.0]) == []
    assert fed(slipping + [-20.0, -18.0, -18.0]) != []


def test_nothing_is_judged_before_it_has_heard_the_residual() -> None:
    early = [-70.0] * (ARMED_AFTER_BLOCKS - 3) + [-20.0, -20.0]
    assert fed(early) == []


def test_reset_forgets_the_residual() -> None:
    onset = VoiceOnset()
    fed(RESIDUAL, onset)
    onset.reset()
    assert fed([-20.0, -20.0], onset) == []  # not armed again yet
