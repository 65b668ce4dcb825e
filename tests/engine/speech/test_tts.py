"""The voice's loudness step ("louder"), on a fixed signal shaped like piper's output."""

import numpy as np


def test_louder_raises_the_loudness_by_about_the_gain_without_clipping():
    from desktop.engine.speech.tts import louder

    rng = np.random.default_rng(7)
    speech_like = (np.clip(rng.laplace(0, 0.08, 48_000), -1, 1) * 32767).astype(np.int16)
    speech_like[100] = 32767  # piper's peak normalization: one sample at full scale

    def db(audio):
        return 20 * np.log10(np.sqrt(np.mean((audio / 32768.0) ** 2)))

    for gain in (3.0, 6.0, 9.0):
        out = louder(speech_like, gain)
        assert gain - 0.6 < db(out) - db(speech_like) <= gain
        assert np.abs(out.astype(np.int32)).max() < 32767  # bent under full scale
    assert np.array_equal(louder(speech_like, 0.0), speech_like)
    quieter = louder(speech_like, -6.0)
    assert abs(db(quieter) - db(speech_like) + 6.0) < 0.05
