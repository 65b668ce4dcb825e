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


class PacedOut:
    """stdout at the microphone's real-time pace."""

    def __init__(self) -> None:
        self.out = sys.stdout.buffer
        self.start = time.monotonic()
        self.written = 0

    def write(self, samples: np.ndarray) -> None:
        for i in range(0, samples.size, BLOCK):
            block = samples[i : i + BLOCK]
            time.sleep(max(0.0, self.start + self.written / RATE - time.monotonic()))
            self.out.write(block.tobytes())
            self.out.flush()
            self.written += block.size


class Speaker:
    """Has the answer been heard? From the speaker's log (sound_sink.py): a user waits
    until a reply that began after their question has ended, ``quiet_s`` ago (or,
    with no answer, ``give_up_s`` after asking)."""

    def __init__(self, log_path: str, quiet_s: float, give_up_s: float = 30.0) -> None:
        self.log_path, self.quiet_s, self.give_up_s = log_path, quiet_s, give_up_s
        self.asked_at = 0.0

    def entries(self) -> list[dict]:
        try:
            with open(self.log_path, encoding="utf-8") as log:
                return [json.loads(line) for line in log.read().splitlines()]
        except FileNotFoundError:
            return []

    def asked(self) -> None:
        self.asked_at = time.time()

    def busy(self) -> bool:
        if not self.asked_at:
            return False
        if time.time() - self.asked_at > self.give_up_s:
            return False
        ends = [e["last_audio"] for e in self.entries() if "last_audio" in e]
        answered = [t for t in ends if t > self.asked_at]
        return not answered or time.time() - answered[-1] < self.quiet_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("wavs", nargs="*")
    parser.add_argument("--log", required=True)
    parser.add_argument("--lead", type=float, default=1.0)
    parser.add_argument("--gap", type=float, default=8.0)
    parser.add_argument("--after", default="")
    parser.add_argument(
        "--quiet-file",
        default="",
        help="before each question, wait until the speaker's log (sound_sink.py) says quiet",
    )
    parser.add_argument("--quiet-s", type=float, default=1.5)
    args = parser.parse_args()
    noise = np.random.default_rng(0)

    def room(seconds: float) -> np.ndarray:
        return noise.integers(-20, 21, int(seconds * RATE)).astype("<i2")

    out = PacedOut()
    while args.after and not os.path.exists(args.after):
        out.write(room(BLOCK / RATE))
    out.write(room(args.lead))
    speaker = Speaker(args.quiet_file, args.quiet_s) if args.quiet_file else None
    with open(args.log, "a", encoding="utf-8") as log:
        for path in args.wavs:
            while speaker is not None and speaker.busy():  # a user waits for the answer
                out.write(room(BLOCK / RATE))
            samples = load_16k(path)
            out.write(samples)
            voiced = np.flatnonzero(np.abs(samples) > 300)
            end = (samples.size - 1 - voiced[-1]) / RATE if voiced.size else 0.0
            log.write(json.dumps({"wav": path, "voice_end": time.time() - end}) + "\n")
            log.flush()
            if speaker is not None:
                speaker.asked()
            out.write(room(args.gap))
        while True:
            out.write(room(60))


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
