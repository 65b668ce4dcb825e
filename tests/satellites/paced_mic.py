"""A satellite's microphone for the tests: raw 16 kHz 16-bit mono PCM on stdout, in
real time, as `arecord` would give it: quiet room noise, then each spoken WAV
with a gap of noise after it, then noise until it is stopped.

    python paced_mic.py --log LOG [--after FILE] [--lead S] [--gap S] question.wav ...

With --after, the questions wait (in room noise) until FILE exists: the test
satellite touches it when it starts streaming to the hub (its
--streaming-start-command), as a user waits for the device's light.

Each question's voice end (the wall-clock time its last sample was written)
goes to LOG as a line of JSON, so the benchmark can time the reply from it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import wave

import numpy as np

RATE = 16000
BLOCK = 1024


def load_16k(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")[::channels]
    if rate != RATE:
        import soxr

        samples = soxr.resample(samples.astype(np.float32), rate, RATE).astype("<i2")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("wavs", nargs="*")
    parser.add_argument("--log", required=True)
    parser.add_argument("--lead", type=float, default=1.0)
    parser.add_argument("--gap", type=float, default=8.0)
    parser.add_argument("--after", default="")
    args = parser.parse_args()
    noise = np.random.default_rng(0)

    def room(seconds: float) -> np.ndarray:
        return noise.integers(-20, 21, int(seconds * RATE)).astype("<i2")

    parts: list[tuple[np.ndarray, str | None]] = [(room(args.lead), None)]
    for path in args.wavs:
        parts += [(load_16k(path), path), (room(args.gap), None)]
    out = sys.stdout.buffer
    start = time.monotonic()
    written = 0
    while args.after and not os.path.exists(args.after):
        block = room(BLOCK / RATE)
        time.sleep(max(0.0, start + written / RATE - time.monotonic()))
        out.write(block.tobytes())
        out.flush()
        written += block.size
    with open(args.log, "a", encoding="utf-8") as log:
        for samples, name in [*parts, *[(room(3600), None)]]:
            for i in range(0, samples.size, BLOCK):
                block = samples[i : i + BLOCK]
                due = start + written / RATE
                time.sleep(max(0.0, due - time.monotonic()))
                out.write(block.tobytes())
                out.flush()
                written += block.size
            if name is not None:
                voiced = np.flatnonzero(np.abs(samples) > 300)
                end = (samples.size - 1 - voiced[-1]) / RATE if voiced.size else 0.0
                ended_at = time.time() - end
                log.write(json.dumps({"wav": name, "voice_end": ended_at}) + "\n")
                log.flush()


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
