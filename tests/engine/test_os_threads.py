"""What the OS sees of Parley's threads: names (top -H, bench/soak.py) and CPU load."""

import sys
import threading
import time
from pathlib import Path

import pytest

from desktop.engine.os_threads import ThreadLoad, name_this_thread

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="OS thread names are read from Linux's /proc"
)


def os_name_of_a_thread(target_name: str, given: str | None) -> str:
    seen = []

    def work():
        name_this_thread(given)
        seen.append(Path("/proc/thread-self/comm").read_text().strip())

    thread = threading.Thread(target=work, name=target_name)
    thread.start()
    thread.join()
    return seen[0]


def test_a_thread_takes_its_python_name():
    assert os_name_of_a_thread("parley-turns", None) == "parley-turns"


def test_a_long_name_is_cut_to_what_linux_keeps():
    assert os_name_of_a_thread("x", "parley-a-very-long-name") == "parley-a-very-l"


def load_of(work) -> float:
    """The share of a core a thread used over 0.6 s of doing ``work``."""
    started, shares = threading.Event(), []

    def run():
        load = ThreadLoad(threading.get_native_id())
        started.set()
        end = time.monotonic() + 0.6
        while time.monotonic() < end:
            work()
        shares.append(load.share())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return shares[0]


def test_a_spinning_thread_shows_a_high_load_and_a_waiting_one_none():
    assert load_of(lambda: sum(range(1000))) > 0.5  # busy: most of a core
    assert load_of(lambda: time.sleep(0.05)) < 0.2  # asleep


def test_a_thread_that_is_gone_has_no_load():
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    assert ThreadLoad(thread.native_id).share() == 0.0
