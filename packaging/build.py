"""Builds Parley's bundle and installers for the host OS (``make package``).

    python packaging/build.py                     # both flavours, installers
    python packaging/build.py --flavour models    # only the one with the starter models
    python packaging/build.py --no-installers     # bundles only

Linux: ``dist/parley/`` (without models), ``dist/with-models/parley/`` (with),
a ``.deb`` and a portable ``.tar.gz`` for each. Windows and macOS: the bundle
(``Parley.app`` on macOS); their installers are made by the release workflow
(``packaging/windows/parley.iss``, ``packaging/macos/make_dmg.sh``).
Prints the sizes of bundles and installers and what dominates the bundle.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))
import elf  # noqa: E402 - packaging/elf.py

PACKAGING = ROOT / "packaging"
DIST = ROOT / "dist"
BUILD = ROOT / "build"
APP_ID = "io.parley.Parley"

# Flavour -> (PyInstaller --distpath, spec arguments, package name).
FLAVOURS = {
    "plain": (DIST, [], "parley"),
    "models": (DIST / "with-models", ["--with-models"], "parley-with-models"),
}

# Data the bundled libraries read from the system at run time (not seen as
# NEEDED entries): ALSA's configuration (the bundled libasound reads
# /usr/share/alsa), fonts and fontconfig's configuration, keyboard layouts for
# the bundled libxkbcommon. Without them: no audio devices, no text, no keyboard.
RUNTIME_DATA_PACKAGES = ["libasound2-data", "fontconfig-config", "xkb-data"]
# Loaded by the C library at run time, never listed as NEEDED.
IGNORED_NEEDED = {"ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}


def version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'^version\s*=\s*"([^"]+)"', text, re.M).group(1)


def run(cmd: list[str], **kwargs: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def human(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def bundle_dir(flavour: str) -> Path:
    distpath = FLAVOURS[flavour][0]
    return distpath / ("Parley.app" if sys.platform == "darwin" else "parley")


def build_bundle(flavour: str) -> Path:
    distpath, spec_args, _ = FLAVOURS[flavour]
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    cmd += ["--distpath", str(distpath), "--workpath", str(BUILD / f"pyinstaller-{flavour}")]
    cmd += [str(PACKAGING / "parley.spec")]
    if spec_args:
        cmd += ["--", *spec_args]
    run(cmd, cwd=ROOT)
    return bundle_dir(flavour)


def link_duplicate_libraries(bundle: Path) -> int:
    """Linux: make ``libX.so`` a symlink to its identical ``libX.so.N``; returns bytes saved.

    llama-cpp-python's wheel carries each library twice, as the name ctypes opens
    (libllama.so) and as the soname the others need (libllama.so.0); PyInstaller
    copies both (6 MB of llama.cpp twice). A symlink survives the .deb and the
    .tar.gz; Windows and macOS bundles are left as they are.
    """
    saved = 0
    for plain in bundle.rglob("lib*.so"):
        if plain.is_symlink() or not plain.is_file():
            continue
        for versioned in sorted(plain.parent.glob(plain.name + ".*")):
            if versioned.is_symlink() or not versioned.is_file():
                continue
            if versioned.read_bytes() == plain.read_bytes():
                saved += plain.stat().st_size
                plain.unlink()
                plain.symlink_to(versioned.name)
                break
    return saved


def report_bundle(bundle: Path, top: int = 12) -> None:
    internal = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    parts = sorted(
        ((tree_size(p), p.name) for p in internal.iterdir() if not p.is_symlink()), reverse=True
    )
    total = tree_size(bundle)
    print(f"bundle {bundle.relative_to(ROOT)}: {human(total)} ({total / 2**20:.0f} MiB) unpacked")
    for size, name in parts[:top]:
        print(f"  {human(size):>7}  {name}")


# --- Linux --------------------------------------------------------------------


def system_libraries(bundle: Path) -> set[str]:
    """Sonames the bundle's binaries need that the bundle does not carry."""
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    carried = {p.name for p in files}
    wanted: set[str] = set()
    for path in files:
        if path.suffix in (".py", ".pyc", ".txt", ".json", ".onnx", ".gguf", ".bin"):
            continue
        if elf.is_elf(path):
            wanted.update(elf.needed(path))
    return {name for name in wanted - carried if name not in IGNORED_NEEDED}


def debian_packages_for(sonames: set[str]) -> list[str]:
    """The Debian packages providing these libraries on this (build) machine."""
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    packages, missing = set(), []
    for soname in sorted(sonames):
        paths = re.findall(rf"^\s*{re.escape(soname)} \([^)]*\) => (\S+)", cache, re.M)
        owner = None
        for found in paths:
            for candidate in (found, os.path.realpath(found)):
                done = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                if done.returncode == 0:
                    owner = done.stdout.split(":")[0].strip()
                    break
            if owner:
                break
        if owner is None:
            missing.append(soname)
        else:
            packages.add(owner.removesuffix(f":{arch}"))
    if missing:
        sys.exit(
            f"build.py: no Debian package on this machine provides {', '.join(missing)}, "
            "which the bundle needs; install it, or bundle it"
        )
    return sorted(packages)


def build_deb(bundle: Path, package: str, depends: list[str], fast: bool = False) -> Path:
    ver = version()
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    stage = BUILD / f"deb-{package}"
    shutil.rmtree(stage, ignore_errors=True)
    opt = stage / "opt" / "parley"
    shutil.copytree(bundle, opt, symlinks=True)
    (stage / "usr" / "bin").mkdir(parents=True)
    os.symlink("/opt/parley/parley", stage / "usr" / "bin" / "parley")
    share = stage / "usr" / "share"
    for src, dest in (
        (PACKAGING / "linux" / f"{APP_ID}.desktop", share / "applications" / f"{APP_ID}.desktop"),
        (
            PACKAGING / "linux" / f"{APP_ID}.metainfo.xml",
            share / "metainfo" / f"{APP_ID}.metainfo.xml",
        ),
        (
            ROOT / "resources" / "parley.svg",
            share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        ),
        (  # systemctl --user enable --now parley-hub
            PACKAGING / "linux" / "parley-hub.service",
            stage / "usr" / "lib" / "systemd" / "user" / "parley-hub.service",
        ),
    ):
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    installed_kb = tree_size(stage) // 1024
    other = "parley-with-models" if package == "parley" else "parley"
    control = stage / "DEBIAN" / "control"
    control.parent.mkdir(parents=True)
    control.write_text(
        f"Package: {package}\n"
        f"Version: {ver}\n"
        f"Architecture: {arch}\n"
        "Maintainer: Parley developers <parley@localhost>\n"
        f"Installed-Size: {installed_kb}\n"
        f"Depends: {', '.join(depends)}\n"
        f"Conflicts: {other}\n"
        f"Replaces: {other}\n"
        "Section: utils\n"
        "Priority: optional\n"
        "Homepage: https://github.com/parley/parley\n"
        "Description: private offline voice assistant\n"
        " Parley answers spoken questions aloud with local models (llama.cpp,\n"
        " faster-whisper, piper); nothing leaves the machine. Self-contained:\n"
        " no Python needed on the system.\n"
        + (" This package includes the small starter models.\n" if "models" in package else "")
    )
    for path in stage.rglob("*"):  # dpkg-deb insists on sane modes
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o022 | (0o755 if path.is_dir() else 0))
    out = DIST / f"{package}_{ver}_{arch}.deb"
    # xz -6 is dpkg's default (about 3 minutes for the bundle without models on
    # 2 cores, 6 with them); --fast (the tests) uses gzip -1: bigger, seconds.
    compression = ["-Zgzip", "-z1"] if fast else ["-Zxz", "-z6", "--threads-max=0"]
    run(["dpkg-deb", "--root-owner-group", *compression, "--build", str(stage), str(out)])
    shutil.rmtree(stage)
    return out


def build_tarball(bundle: Path, package: str, fast: bool = False) -> Path:
    machine = os.uname().machine
    out = DIST / f"{package}-{version()}-linux-{machine}.tar.gz"
    with tarfile.open(out, "w:gz", compresslevel=1 if fast else 6) as tar:
        tar.add(bundle, arcname=f"{package}-{version()}")
        for src, name in (
            (PACKAGING / "linux" / f"{APP_ID}.desktop", f"{APP_ID}.desktop"),
            (ROOT / "resources" / "parley.svg", f"{APP_ID}.svg"),
        ):
            tar.add(src, arcname=f"{package}-{version()}/share/{name}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavour", choices=["plain", "models", "both"], default="both")
    parser.add_argument("--no-installers", action="store_true")
    parser.add_argument("--no-tarball", action="store_true", help="Linux: the .deb only")
    parser.add_argument(
        "--fast", action="store_true", help="quick compression (tests): bigger installers"
    )
    args = parser.parse_args(argv)
    flavours = ["plain", "models"] if args.flavour == "both" else [args.flavour]
    DIST.mkdir(exist_ok=True)
    made: list[Path] = []
    for flavour in flavours:
        started = time.perf_counter()
        bundle = build_bundle(flavour)
        print(f"built {bundle.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s")
        if sys.platform.startswith("linux"):
            saved = link_duplicate_libraries(bundle)
            print(f"duplicate libraries made symlinks: {human(saved)} saved")
        report_bundle(bundle)
        if args.no_installers or not sys.platform.startswith("linux"):
            continue
        package = FLAVOURS[flavour][2]
        needed = system_libraries(bundle)
        depends = sorted(set(debian_packages_for(needed)) | set(RUNTIME_DATA_PACKAGES))
        print(f"system libraries the bundle needs: {' '.join(sorted(needed))}")
        print(f"Depends: {', '.join(depends)}")
        started = time.perf_counter()
        made.append(build_deb(bundle, package, depends, args.fast))
        print(f"built {made[-1].name} in {time.perf_counter() - started:.0f} s")
        if not args.no_tarball:
            started = time.perf_counter()
            made.append(build_tarball(bundle, package, args.fast))
            print(f"built {made[-1].name} in {time.perf_counter() - started:.0f} s")
    for path in made:
        print(f"installer {path.relative_to(ROOT)}: {human(path.stat().st_size)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
