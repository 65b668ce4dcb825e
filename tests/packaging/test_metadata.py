"""Fast checks of the packaging files: each one a way an installer really breaks."""

from __future__ import annotations

import configparser
import importlib.util
import plistlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy
import yaml

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
APP_ID = "io.parley.Parley"
SITE = Path(numpy.__file__).resolve().parent.parent  # the venv's site-packages

sys.path.insert(0, str(PACKAGING))
import elf  # noqa: E402 - packaging/elf.py


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install {package} (make test installs it)"
    return path


def test_desktop_entry_is_valid():
    desktop = PACKAGING / "linux" / f"{APP_ID}.desktop"
    done = subprocess.run(
        [need("desktop-file-validate", "desktop-file-utils"), str(desktop)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(desktop)
    assert entry["Desktop Entry"]["Exec"].split()[0] == "parley"  # /usr/bin/parley in the .deb
    assert entry["Desktop Entry"]["Icon"] == APP_ID  # hicolor/scalable/apps/APP_ID.svg


def test_appstream_metainfo_is_valid_and_names_the_desktop_file():
    metainfo = PACKAGING / "linux" / f"{APP_ID}.metainfo.xml"
    root = ET.parse(metainfo).getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    done = subprocess.run(
        [need("appstreamcli", "appstream"), "validate", "--no-net", str(metainfo)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_inno_setup_script_installs_per_user_with_start_menu_and_uninstaller():
    text = (PACKAGING / "windows" / "parley.iss").read_text()
    sections = dict(re.findall(r"^\[(\w+)\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S))
    setup = dict(re.findall(r"^(\w+)=(.*)$", sections["Setup"], re.M))
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"].startswith("{localappdata}")  # writable without admin
    assert "AppId" in setup and "UninstallDisplayIcon" in setup
    assert re.search(r'Name: "\{group\}\\Parley"; Filename: "\{app\}\\parley\.exe"', text)
    assert "{uninstallexe}" in sections["Icons"]
    assert re.search(r'Source: "\{#BundleDir\}\\\*".*recursesubdirs', sections["Files"])


def test_macos_app_asks_for_the_microphone_and_keeps_it_when_signed():
    info = plistlib.loads((PACKAGING / "macos" / "Info.plist").read_bytes())
    assert len(info["NSMicrophoneUsageDescription"]) > 20
    entitlements = plistlib.loads((PACKAGING / "macos" / "entitlements.plist").read_bytes())
    assert entitlements["com.apple.security.device.audio-input"] is True
    script = (PACKAGING / "macos" / "make_dmg.sh").read_text()
    assert "--options runtime" in script and "entitlements.plist" in script
    assert "hdiutil create" in script


def test_release_workflow_builds_tests_and_packages_on_each_os():
    flow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    runners = {job["runs-on"]: job for job in flow["jobs"].values()}
    assert set(runners) == {"ubuntu-latest", "windows-latest", "macos-latest"}
    for runner, job in runners.items():
        script = "\n".join(step.get("run", "") for step in job["steps"])
        assert "GGML_NATIVE=OFF" in script, runner
        assert "packaging/parley.spec" in script or "packaging/build.py" in script, runner
        assert "self-test" in script, runner
        assert any("upload-artifact" in step.get("uses", "") for step in job["steps"]), runner
    installers = {
        "windows-latest": "iscc",
        "macos-latest": "make_dmg.sh",
        "ubuntu-latest": "packaging/build.py",
    }
    for runner, tool in installers.items():
        assert tool in "\n".join(s.get("run", "") for s in runners[runner]["steps"]), runner


def test_strip_check_refuses_what_the_loader_would_refuse(tmp_path):
    """numpy's OpenBLAS was patched by auditwheel; a plain strip breaks it (the
    frozen app died with "ELF load command address/offset not page-aligned").
    The check must catch that, and pass CTranslate2's extension, which strips
    from 65 MB to about 1 MB."""
    need("strip", "binutils")
    blas = next((SITE / "numpy.libs").glob("libscipy_openblas*.so"))
    assert elf.has_symbols(blas) and elf.load_segments_aligned(blas)
    assert not elf.strip_copy(blas, tmp_path / "blas.so")
    assert not (tmp_path / "blas.so").exists()
    ext = next((SITE / "ctranslate2").glob("_ext*.so"))
    assert elf.strip_copy(ext, tmp_path / "ext.so")
    assert not elf.has_symbols(tmp_path / "ext.so")
    assert (tmp_path / "ext.so").stat().st_size < ext.stat().st_size / 10


def test_runtime_hook_finds_portaudio_inside_the_bundle(tmp_path, monkeypatch):
    import ctypes.util

    (tmp_path / "libportaudio.so.2").write_bytes(b"")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    original = ctypes.util.find_library
    try:
        spec = importlib.util.spec_from_file_location(
            "pyi_rth_parley", PACKAGING / "rthooks" / "pyi_rth_parley.py"
        )
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        assert ctypes.util.find_library("portaudio") == str(tmp_path / "libportaudio.so.2")
        assert ctypes.util.find_library("c") == original("c")  # the rest: the system's
    finally:
        ctypes.util.find_library = original


def test_the_hub_user_unit_is_valid_and_runs_parley_hub(tmp_path):
    unit = PACKAGING / "linux" / "parley-hub.service"
    parsed = configparser.ConfigParser(interpolation=None, strict=False)
    parsed.optionxform = str
    parsed.read(unit)
    assert parsed["Service"]["ExecStart"] == "/usr/bin/parley hub"  # the .deb's symlink
    assert parsed["Install"]["WantedBy"] == "default.target"  # a user unit's target
    # systemd checks that ExecStart exists: verify a copy pointing at a stand-in binary.
    stand_in = tmp_path / "parley"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    copy = tmp_path / "parley-hub.service"
    copy.write_text(unit.read_text().replace("/usr/bin/parley", str(stand_in)))
    done = subprocess.run(
        [need("systemd-analyze", "systemd"), "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parley-hub.service" not in done.stderr, done.stderr  # no warnings about it
