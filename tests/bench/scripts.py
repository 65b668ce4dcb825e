"""Run a benchmark script as a person would: its own process, from the repository root."""

import subprocess
import sys

from tests.conftest import REPO


def run_script(*args: str, timeout: float = 600, env: dict | None = None):
    """The finished process (output captured as text); the caller checks its exit."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env
    )


def run_ok(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """As run_script, and it must succeed: the failure shows the script's stderr."""
    done = run_script(*args, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done
