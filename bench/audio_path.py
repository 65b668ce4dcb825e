"""The audio path with no model: microphone in, straight back out of the speaker.

    python bench/audio_path.py [--clicks N] [--json]

Parley's own DuplexStream (the stream the voice loop uses) is opened on a
private PulseAudio server, and every block it hears is queued straight back on
its speaker. Clicks are played into the virtual microphone, and the room is
recorded (left: microphone, right: speaker, one clock). Per click:

- round_trip_ms: on the recording, from the click on the microphone channel to
  its copy on the speaker channel: what a person in the room would hear.
- own_round_trip_ms: the same, by Parley's own clocks: when the stream says it
  captured the click's first loud sample (PortAudio's ADC time) to when it says
  the copy sounded (its DAC time). The voice loop's Heard figure rests on these.
- delivered_late_ms: wall-clock time from the click's start on the microphone to
  the moment the loop's worker was handed it, less the click's place in the WAV:
  input buffering the recording cannot show (a null sink keeps its own time).

Rows: the plain room (PulseAudio's defaults, as on a desktop) and the tuned
room (the tests' 10 ms reader on the null sink). In the plain room the clicks
reach the stream about 1.5 s after paplay wrote them (delivered_late_ms): the
null sink renders ahead in large steps when no client asks for small ones, and
keeps the recording on its own timeline, so that wait is the rig's, not one a
person with a real microphone would sit through, and the recording does not
show it. A stream that ends by itself is reopened (revivals).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.audio_server import (  # noqa: E402
    MIC_CHANNEL,
    RATE,
    SPEAKER_CHANNEL,
    VirtualAudio,
    read_wav,
    use_env,
    write_wav,
)

CLICK_S = 0.02
GAP_S = 0.6  # between clicks: each copy is back long before the next click
LEAD_S = 0.3  # silence before the first click in the WAV
THRESHOLD = 0.2


def click_train(clicks: int) -> np.ndarray:
    """Short 1 kHz bursts, GAP_S apart, after LEAD_S of silence (48 kHz)."""
    t = np.arange(int(CLICK_S * RATE)) / RATE
    burst = (0.6 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    gap = np.zeros(int(GAP_S * RATE) - burst.size, np.float32)
    return np.concatenate([np.zeros(int(LEAD_S * RATE), np.float32)] + [burst, gap] * clicks)


def onsets(channel: np.ndarray) -> np.ndarray:
    """Sample indices where the signal first rises above THRESHOLD after quiet."""
    loud = np.abs(channel) > THRESHOLD
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    keep, last = [], -RATE
    for s in starts:
        if s - last > RATE // 4:  # one onset per click
            keep.append(int(s))
        last = s if s - last > RATE // 4 else last
    return np.array(keep, int)


def run_row(tuned: bool, clicks: int) -> dict:
    """One room: play the clicks, loop them back, measure."""
    from desktop.engine.audio import streams

    with tempfile.TemporaryDirectory() as scratch, VirtualAudio(tuned=tuned) as audio:
        wav = write_wav(Path(scratch) / "clicks.wav", click_train(clicks))
        with use_env(audio.env):
            devices = streams.find_devices()
            captured, sounded, delivered = [], [], []
            holder: dict = {}

            def on_block(mic: np.ndarray, played: np.ndarray) -> None:
                stream = holder["stream"]
                loud = np.flatnonzero(np.abs(mic) > THRESHOLD)
                quiet = time.perf_counter() - holder.get("last_loud", 0.0) > 0.25
                if loud.size and quiet:
                    holder["last_loud"] = time.perf_counter()
                    captured.append(stream.block_captured_at + loud[0] / 16000)
                    delivered.append(time.perf_counter())
                    stream.play(mic, 16000, on_heard=sounded.append)
                elif not quiet:
                    stream.play(mic, 16000)

            stream = holder["stream"] = streams.DuplexStream(devices, on_block)
            recorder = audio.record_mic_and_speaker(Path(scratch) / "room.wav")
            stream.start()
            time.sleep(0.5)
            started = time.perf_counter()
            player = audio.play_into_mic(wav, block=False)
            player.wait(timeout=LEAD_S + clicks * GAP_S + 10)
            time.sleep(0.5)
            stream.stop()
            room, _ = read_wav(recorder.stop())
            latency = stream.latency_ms
    mic_on, speaker_on = onsets(room[:, MIC_CHANNEL]), onsets(room[:, SPEAKER_CHANNEL])
    trips = []
    for on in mic_on:
        later = speaker_on[(speaker_on > on) & (speaker_on < on + RATE // 2)]
        if later.size:
            trips.append((later[0] - on) / RATE * 1000)
    own = [1000 * (s - c) for c, s in zip(captured, sounded, strict=False)]
    due = [started + LEAD_S + i * GAP_S for i in range(len(delivered))]
    late = [1000 * (d - u) for d, u in zip(delivered, due, strict=False)]
    return {
        "room": "tuned" if tuned else "plain",
        "portaudio_latency_ms": round(latency, 1),
        "clicks": clicks,
        "copies_heard": len(trips),
        "round_trip_ms": summary(trips),
        "own_round_trip_ms": summary(own),
        "delivered_late_ms": summary(late),
        "revivals": stream.revivals,
    }


def summary(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "n": len(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [run_row(tuned, args.clicks) for tuned in (False, True)]
    if args.json:
        print(json.dumps({"rows": rows}))
        return 0

    def fmt(figure: dict) -> str:
        return "-" if figure["p50"] is None else f"{figure['p50']:.0f} / {figure['p95']:.0f}"

    print("device round trip, microphone to speaker, no model (p50 / p95 ms)")
    print(f"{'room':<7}{'heard':>14}{'own clocks':>14}{'input late':>14}")
    for r in rows:
        print(
            f"{r['room']:<7}{fmt(r['round_trip_ms']):>14}"
            f"{fmt(r['own_round_trip_ms']):>14}{fmt(r['delivered_late_ms']):>14}"
            f"   ({r['copies_heard']}/{r['clicks']} heard, revived {r['revivals']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
