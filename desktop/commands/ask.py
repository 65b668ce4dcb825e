"""``parley ask``: one question, typed or spoken, answered once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from desktop.commands.common import print_json, with_remote
from desktop.config import load_settings
from desktop.engine.audio.samples import check_writable, load_audio, write_wav
from desktop.engine.events import Event, Notice, Speech, Token
from desktop.engine.loading import load_assistant

PAUSE_SECONDS = 0.12  # between spoken clauses, as a speaker would breathe


def join_speech(clips: list[np.ndarray], rate: int) -> np.ndarray:
    """Clauses back to back with a short pause between them."""
    if not clips:
        return np.zeros(0, dtype=np.int16)
    pause = np.zeros(int(rate * PAUSE_SECONDS), dtype=np.int16)
    parts: list[np.ndarray] = []
    for clip in clips:
        parts.extend((clip, pause))
    return np.concatenate(parts[:-1])


def run_ask(args: argparse.Namespace) -> int:
    settings = with_remote(load_settings(), args)
    # Check the cheap things first, so bad input fails before any model loads.
    if args.speak:
        check_writable(args.speak)
    audio = load_audio(args.audio) if args.audio else None

    assistant = load_assistant(
        settings, llm_path=args.model, need_stt=audio is not None, need_tts=bool(args.speak)
    )
    clips: list[np.ndarray] = []
    rate = assistant.tts.sample_rate if assistant.tts else 0

    def on_event(event: Event) -> None:
        if isinstance(event, Speech):
            clips.append(event.audio)
        elif isinstance(event, Notice):
            print(f"parley: {event.message}", file=sys.stderr)
        elif isinstance(event, Token) and not event.reasoning and not args.json:
            sys.stdout.write(event.text)
            sys.stdout.flush()

    result = assistant.run_turn(
        text=args.text,
        audio=audio,
        speak=bool(args.speak),
        on_event=on_event,
        source=Path(args.audio).name if args.audio else "the recording",
    )
    if args.speak:
        write_wav(args.speak, join_speech(clips, rate), rate)
    if args.json:
        print_json(result.to_dict())
    else:
        sys.stdout.write("\n")
    return 0
