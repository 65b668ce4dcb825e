"""``parley chat --voice``: the live voice loop in a terminal.

Hands-free, Parley listens all the time; otherwise an empty line (Enter)
starts listening and the next one stops. Typed lines are questions too. The
state and the live caption share one status line on stderr.
"""

from __future__ import annotations

import sys
import threading

from desktop.commands.common import alarm_line, keep_spoken_settings
from desktop.engine.audio.streams import DuplexStream, find_devices
from desktop.engine.conversation.turn import Assistant
from desktop.engine.conversation.voice_loop import VoiceLoop
from desktop.engine.events import (
    Alarm,
    Event,
    Failure,
    Heard,
    Notice,
    SettingsChanged,
    State,
    Token,
    Transcript,
    TurnResult,
)
from desktop.history.recorder import Recorder

SYMBOLS = {"listening": "●", "transcribing": "…", "thinking": "…", "speaking": "♪", "idle": "○"}


class TerminalView:
    """Prints the loop's events; safe to call from any thread."""

    def __init__(self, out=sys.stdout, status=sys.stderr) -> None:  # noqa: ANN001
        self.out = out
        self.status = status
        self.live = status.isatty()
        self.state = "idle"
        self.caption = ""
        self.in_reply = False
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self._show(event)

    def _status_line(self) -> None:
        if self.live and not self.in_reply:
            text = f"{SYMBOLS.get(self.state, '')} {self.state}  {self.caption}"[:100]
            self.status.write(f"\r\033[K{text}")
            self.status.flush()

    def _show(self, event: Event) -> None:
        if isinstance(event, State):
            if event.name != self.state and not self.live:
                print(f"[{event.name}]", file=self.status, flush=True)
            self.state = event.name
            self._status_line()
        elif isinstance(event, Transcript):
            if event.final:
                self.caption = ""
                if self.live:
                    self.status.write("\r\033[K")
                self.out.write(f"you> {event.text}\n")
                self.out.flush()
            else:
                self.caption = event.text
                self._status_line()
        elif isinstance(event, Token) and not event.reasoning:
            if not self.in_reply:
                self.out.write("parley> ")
                self.in_reply = True
            self.out.write(event.text)
            self.out.flush()
        elif isinstance(event, TurnResult):
            if self.in_reply:
                self.out.write(" [stopped]\n" if event.cancelled else "\n")
                self.in_reply = False
        elif isinstance(event, Heard):
            print(f"  ({heard_line(event)})", file=self.status, flush=True)
        elif isinstance(event, Alarm):
            self.out.write(f"\n{alarm_line(event.text)}\n")
            self.out.flush()
        elif isinstance(event, Notice | Failure):
            hint = f" ({event.hint})" if isinstance(event, Failure) and event.hint else ""
            print(f"\nparley: {event.message}{hint}", file=self.status, flush=True)


def heard_line(event: Heard) -> str:
    """'heard 812 ms after you stopped: endpoint 402, reply 350, audio 60'."""
    return (
        f"heard {event.voice_to_voice_ms:.0f} ms after you stopped: endpoint "
        f"{event.endpoint_ms:.0f}, reply {event.reply_ms:.0f}, audio {event.audio_path_ms:.0f}"
    )


def run_voice_chat(
    assistant: Assistant,
    hands_free: bool,
    input_device: str = "",
    output_device: str = "",
    echo_cancellation: bool = True,
    recorder: Recorder | None = None,
) -> int:
    """Run the loop until /quit or end of input. Raises AudioError if there is no mic."""
    devices = find_devices(input_device, output_device)
    view = TerminalView()

    def show_and_save(event: Event) -> None:
        if recorder is not None and isinstance(event, TurnResult):
            recorder.record(event)
        if isinstance(event, SettingsChanged):
            keep_spoken_settings(event.values)
        view(event)

    loop = VoiceLoop(
        assistant,
        lambda on_block, on_failure: DuplexStream(devices, on_block, on_failure),
        show_and_save,
        hands_free=hands_free,
        echo_cancellation=echo_cancellation,
    )
    loop.start()
    if assistant.tools is not None and assistant.tools.mcp is not None:
        assistant.tools.approve = loop.approve_by_voice  # "Shall I use …?" "Yes."
        assistant.tools.on_always = lambda allowed: keep_spoken_settings(
            {"mcp_always_allow": allowed}
        )
    how = "Speak any time" if hands_free else "Press Enter to talk, Enter again to stop"
    print(f"{how}; or type a question. /quit (or Ctrl-D) leaves.", file=sys.stderr)
    listening = False
    try:
        while True:
            try:
                line = input().strip()
            except (EOFError, KeyboardInterrupt):
                return 0
            if line in ("/quit", "/exit"):
                return 0
            if line == "/stop":
                loop.stop_speaking()
            elif line:
                loop.ask(line)
            elif not hands_free:
                (loop.release if listening else loop.press)()
                listening = not listening
    finally:
        loop.stop()
