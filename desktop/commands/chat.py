"""``parley chat``: a conversation in the terminal, optionally spoken aloud.

Ctrl-C while Parley answers stops that answer; at the prompt it ends the chat.
Each turn is saved to the history as it finishes (unless the settings say not
to); ``--continue ID`` carries on a saved conversation.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from desktop.commands.common import alarm_line, keep_spoken_settings, with_remote
from desktop.config import Settings, load_settings
from desktop.engine.conversation.alarms import start_timer_clock, stop_timer_clock
from desktop.engine.conversation.turn import Assistant
from desktop.engine.events import Event, Notice, SettingsChanged, Speech, Token
from desktop.engine.loading import load_assistant
from desktop.errors import AudioError, ParleyError
from desktop.history.recorder import Recorder


def _say_problem(message: str) -> None:
    print(f"parley: {message}", file=sys.stderr)


def _open_history(args: argparse.Namespace, settings: Settings) -> Recorder:
    recorder = Recorder.open(settings.keep_history, _say_problem)
    if getattr(args, "resume", None) is not None:
        recorder.resume(args.resume)  # a missing id is a clear error before any model loads
    return recorder


def _resume(recorder: Recorder, assistant: Assistant) -> None:
    """Give the assistant the saved exchanges of the conversation being continued."""
    if recorder.conversation_id is None or recorder.store is None:
        return
    conversation = recorder.store.get(recorder.conversation_id)
    assistant.restore(conversation.messages())
    turns = len(conversation.turns)
    print(f"[continuing “{conversation.title}”: {turns} turns]", file=sys.stderr)


def _try_live_voice(args: argparse.Namespace, settings: Settings, recorder: Recorder) -> int | None:
    """The full voice loop when a microphone exists; None to fall back to text."""
    from desktop.commands.voice_chat import run_voice_chat
    from desktop.engine.audio.streams import find_devices

    try:
        find_devices(settings.input_device, settings.output_device)
    except AudioError as exc:
        print(f"parley: {exc.one_line()}", file=sys.stderr)
        return None
    print("parley: loading models…", file=sys.stderr)
    assistant = load_assistant(settings, llm_path=args.model, live_audio=True)
    _resume(recorder, assistant)
    return run_voice_chat(
        assistant,
        recorder=recorder,
        hands_free=args.hands_free or settings.hands_free,
        input_device=settings.input_device,
        output_device=settings.output_device,
        echo_cancellation=settings.echo_cancellation,
    )


HELP = "Type a message and press Enter. /new starts over, /quit (or Ctrl-D) leaves."


def run_chat(args: argparse.Namespace) -> int:
    settings = with_remote(load_settings(), args)
    recorder = _open_history(args, settings)
    try:
        return _chat(args, settings, recorder)
    finally:
        recorder.close()


def _chat(args: argparse.Namespace, settings: Settings, recorder: Recorder) -> int:
    if args.voice or args.hands_free or settings.hands_free:
        live = _try_live_voice(args, settings, recorder)
        if live is not None:
            return live
    player = None
    if args.voice:
        from desktop.engine.audio.player import Player

        try:
            player = Player()
        except AudioError as exc:
            print(f"parley: {exc.one_line()}", file=sys.stderr)
    print("parley: loading models…", file=sys.stderr)
    assistant = load_assistant(
        settings, llm_path=args.model, need_stt=False, need_tts=player is not None
    )
    _resume(recorder, assistant)
    _ask_before_tools(assistant)
    print(HELP, file=sys.stderr)
    clock = start_timer_clock(assistant, _ring_in_terminal(assistant, player))
    try:
        return _converse(assistant, recorder, player)
    finally:
        stop_timer_clock(assistant, clock)
        if assistant.tools is not None:
            assistant.tools.close()


def _ask_before_tools(assistant: Assistant) -> None:
    """MCP tools run only after a yes at the prompt ("always" is kept in the settings)."""
    tools = assistant.tools
    if tools is None or tools.mcp is None:
        return
    for failure in tools.mcp.failures:
        print(f"parley: {failure}", file=sys.stderr)

    def approve(server: str, tool: str, arguments: dict) -> str:
        shown = json.dumps(arguments, ensure_ascii=False)
        print(f"\n[the model wants to use {tool} of the MCP server {server}: {shown}]")
        try:
            answer = input("Allow it? [y]es, [n]o, [a]lways for this tool: ").strip().lower()
        except EOFError:
            return "no"
        return {"y": "yes", "yes": "yes", "a": "always", "always": "always"}.get(answer, "no")

    tools.approve = approve
    tools.on_always = lambda allowed: keep_spoken_settings({"mcp_always_allow": allowed})


def _ring_in_terminal(assistant: Assistant, player: object):  # noqa: ANN202
    """A timer rings at the prompt: printed, and spoken with --voice."""
    from desktop.engine.skills.skills import ring_words

    def ring(timer, late_s: float) -> None:  # noqa: ANN001
        words = ring_words(timer, late_s)
        print(f"\n{alarm_line(words)}", flush=True)
        if player is not None and assistant.tts is not None:
            player.play(assistant.tts.synthesize(words), assistant.tts.sample_rate)

    return ring


def _converse(assistant: Assistant, recorder: Recorder, player: object) -> int:

    def on_event(event: Event) -> None:
        if isinstance(event, Token) and not event.reasoning:
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Speech) and player is not None:
            player.play(event.audio, event.sample_rate)
        elif isinstance(event, Notice):
            print(f"\n[{event.message}]", file=sys.stderr)
        elif isinstance(event, SettingsChanged):
            keep_spoken_settings(event.values)

    while True:
        try:
            line = input("\nyou> ").strip()
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 0
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return 0
        if line == "/new":
            assistant.reset()
            recorder.new()
            print("[new conversation]", file=sys.stderr)
            continue
        cancel = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_, stop=cancel: stop.set())
        sys.stdout.write("parley> ")
        try:
            result = assistant.run_turn(
                text=line, speak=player is not None, cancel=cancel, on_event=on_event
            )
            recorder.record(result)
            if result.cancelled:
                print(" [stopped]", end="")
                if player is not None:
                    player.stop()
        except ParleyError as exc:
            print(f"\nparley: error: {exc.one_line()}", file=sys.stderr)
        finally:
            signal.signal(signal.SIGINT, previous)
        print()
