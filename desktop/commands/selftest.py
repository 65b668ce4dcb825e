"""``parley self-test``: prove each model loads and works, end to end.

Speech is synthesized, transcribed back, answered, and the answer spoken: the
same chain a voice turn uses. Installers run it after installing.
"""

from __future__ import annotations

import time

import numpy as np

from desktop.config import load_settings
from desktop.engine.audio.samples import STT_RATE
from desktop.engine.loading import load_assistant
from desktop.engine.speech.wer import word_errors
from desktop.errors import ParleyError

PROMPT = "What is the capital of France?"


def run_self_test() -> int:
    import soxr

    steps: list[tuple[str, bool, float, str]] = []

    def step(name: str, work):  # noqa: ANN001, ANN202 - a tiny local helper
        started = time.perf_counter()
        try:
            detail = work()
            ok = True
        except ParleyError as exc:
            detail, ok = exc.one_line(), False
        ms = (time.perf_counter() - started) * 1000
        steps.append((name, ok, ms, detail))
        print(f"{'ok ' if ok else 'FAIL'} {name:<22} {ms:7.0f} ms  {detail}", flush=True)
        return ok

    state: dict[str, object] = {}

    def load() -> str:
        state["assistant"] = load_assistant(load_settings())
        return ", ".join(f"{k}={v}" for k, v in state["assistant"].models.items())

    def speak() -> str:
        tts = state["assistant"].tts
        audio = tts.synthesize(PROMPT)
        if audio.size == 0:
            raise ParleyError("the voice produced no audio")
        state["question"] = soxr.resample(
            audio.astype(np.float32) / 32768, tts.sample_rate, STT_RATE
        )
        return f"{audio.size / tts.sample_rate:.1f} s of speech"

    def listen() -> str:
        heard = state["assistant"].stt.transcribe(state["question"])
        errors, size = word_errors(PROMPT, heard)
        if errors > size // 3:
            raise ParleyError(f"speech recognition heard {heard!r} instead of {PROMPT!r}")
        state["heard"] = heard
        return repr(heard)

    def answer() -> str:
        result = state["assistant"].run_turn(text=state["heard"], speak=True)
        if not result.reply:
            raise ParleyError("the language model gave an empty reply")
        if result.timings["first_audio_ms"] is None:
            raise ParleyError("the reply was not spoken")
        return f"{result.reply[:60]!r}, first audio {result.timings['first_audio_ms']:.0f} ms"

    def intents() -> str:
        assistant = state["assistant"]
        if assistant.skills is None:
            if not load_settings().local_intents:
                return "turned off in the settings"
            raise ParleyError("the local intents did not load (the log says why)")
        result = assistant.run_turn(text="What time is it?")
        if result.intent != "HassGetCurrentTime":
            raise ParleyError(
                f"'What time is it?' was not answered on the device: {result.reply!r}"
            )
        return repr(result.reply)

    for name, work in (
        ("load models", load),
        ("text to speech", speak),
        ("speech to text", listen),
        ("answer and speak", answer),
        ("answer on the device", intents),
    ):
        if not step(name, work):
            print("self-test failed")
            return 1
    print(f"self-test passed in {sum(s[2] for s in steps) / 1000:.1f} s")
    return 0
