"""Screenshots of the real window on a real X server (Xvfb), after real turns.

    python tools/screenshot.py [--out resources/screenshots]

Starts Xvfb (unless DISPLAY is set), a private PulseAudio server for a
microphone (tests/audio_server.py, when pulseaudio is installed), and the
window on the starter models. One question is spoken into the virtual
microphone, one is typed, and a timer is set (the Timers dock); then `import -window root` (ImageMagick) saves
window.png, and after switching to caption mode, captions.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIZE = (900, 720)
SPOKEN = "What is the capital of France?"
TYPED = "Give me one tip for learning a new language."
TIMER = "Set a pasta timer for 10 minutes."  # a local intent: shows the Timers dock


def start_xvfb() -> subprocess.Popen | None:
    if os.environ.get("DISPLAY"):
        return None
    if not shutil.which("Xvfb"):
        sys.exit("screenshot: Xvfb is needed (apt install xvfb)")
    display = ":97"
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    os.environ["DISPLAY"] = display
    return server


def pump(app, condition, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"screenshot: {what} did not happen within {timeout_s:.0f} s")
        app.processEvents()
        time.sleep(0.01)


def shoot(path: Path) -> None:
    subprocess.run(["import", "-window", "root", str(path)], check=True)
    print(f"saved {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "screenshots")
    args = parser.parse_args()
    if not shutil.which("import"):
        sys.exit("screenshot: ImageMagick's import is needed (apt install imagemagick)")
    args.out.mkdir(parents=True, exist_ok=True)
    home = tempfile.mkdtemp(prefix="parley-shot-")
    os.environ["PARLEY_HOME"] = home
    os.environ.pop("QT_QPA_PLATFORM", None)
    xvfb = start_xvfb()
    audio = None
    if shutil.which("pulseaudio") and shutil.which("espeak-ng"):
        from tests.audio_server import VirtualAudio

        audio = VirtualAudio().start()
        os.environ.update(audio.env)
    try:
        take(args.out, audio, Path(home))
    finally:
        if audio is not None:
            audio.stop()
        if xvfb is not None:
            xvfb.terminate()
        shutil.rmtree(home, ignore_errors=True)
    return 0


def take(out: Path, audio, home: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QApplication

    from desktop.config import Settings
    from desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    app.setApplicationName("Parley")
    window = MainWindow(Settings(hands_free=audio is not None, temperature=0.0))
    window.setGeometry(0, 0, *SIZE)
    window.show()
    done: list[object] = []
    ready: list[bool] = []
    window.turn_finished.connect(done.append)
    window.ready.connect(lambda: ready.append(True))
    window.start_engine()
    pump(app, lambda: ready, 120, "the engine getting ready")

    def settled() -> bool:
        return window.voice_bar.state.text() in ("Listening", "Ready")

    if audio is not None and window.voice_available:
        from bench.corpus import speak

        audio.play_into_mic(speak(SPOKEN, home / "spoken.wav"), block=False)
        pump(app, lambda: len(done) >= 1, 60, "the spoken turn")
        pump(app, settled, 60, "the end of the spoken reply")
    for typed in (TYPED, TIMER):
        window.input.setText(typed)
        window.send_typed()
        count = len(done)
        pump(app, lambda: len(done) > count, 60, "the typed turn")  # noqa: B023
        pump(app, settled, 60, "the end of the typed reply")
    until = time.monotonic() + 0.5
    pump(app, lambda: time.monotonic() > until, 2, "a last repaint")
    shoot(out / "window.png")
    window.caption_action.trigger()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    shoot(out / "captions.png")
    window.close()


if __name__ == "__main__":
    raise SystemExit(main())
