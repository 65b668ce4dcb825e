"""Parley's Wyoming services against the reference servers, measured by wyoming-bench.

    python bench/wyoming_services.py [--rounds N] [--json]

Starts `parley serve --wyoming`, wyoming-faster-whisper and wyoming-piper on the
same model files (tiny.en, en_US-joe-medium; whisper with Parley's decoding:
int8, beam 1), then runs wyoming-bench (PyPI) `stt` over the spoken corpus
and `tts` over a few replies of the length Parley speaks, against both, in
the same run. Reports each server's time to first audio / transcript and
total time, and Parley's ratio to the reference (below 1: Parley is faster).

The reference servers and wyoming-bench live in their own venv,
~/.cache/parley/venvs/wyoming-reference (made on first use from PyPI).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import spoken_corpus  # noqa: E402
from desktop.library import registry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV = Path.home() / ".cache/parley/venvs/wyoming-reference"
PINS = ["wyoming-bench==2026.10.0", "wyoming-faster-whisper==3.8.1", "wyoming-piper==2.5.2"]
TEXTS = [
    "The capital of France is Paris.",
    "To make a cup of tea, boil water in a kettle. Pour it over a tea bag and let it "
    "steep for three minutes.",
    "The sky is blue because air scatters blue light more than red light, so blue "
    "reaches your eyes from every part of the sky.",
]
TARGETS = {"stt_total_ratio": 1.0, "tts_total_ratio": 1.0, "tts_streaming_ttfa_ratio": 0.5}
SUMMARY_ROW = re.compile(r"^\s*(?P<server>\S+) \((?P<program>[^)]+)\)\s+(?P<values>.+)$")


def reference_venv() -> Path:
    if not (VENV / ".installed").exists():
        print("bench: making the reference servers' venv (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin/pip"), "install", "-q", *PINS], check=True)
        (VENV / ".installed").touch()
    return VENV


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"bench: {what} exited ({process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"bench: {what} never listened on {port}")


def start_servers(scratch: Path) -> tuple[dict[str, int], list[subprocess.Popen]]:
    found = {entry.role: entry.path for entry in registry.starter_models()}
    venv = reference_venv()
    voices = scratch / "voices"
    voices.mkdir()
    voice = Path(found["tts"])
    for suffix in ("", ".json"):
        shutil.copy(f"{voice}{suffix}", voices / f"{voice.name}{suffix}")
    ports = {name: free_port() for name in ("parley", "faster-whisper", "piper")}
    threads = str(os.cpu_count() or 2)
    commands = {
        "parley": [
            sys.executable,
            "-m",
            "desktop",
            "serve",
            "--wyoming",
            "--port",
            str(ports["parley"]),
        ],
        "faster-whisper": [
            str(venv / "bin/python"),
            "-m",
            "wyoming_faster_whisper",
            "--uri",
            f"tcp://127.0.0.1:{ports['faster-whisper']}",
            "--model",
            str(found["stt"]),
            "--data-dir",
            str(scratch),
            "--language",
            "en",
            "--compute-type",
            "int8",
            "--beam-size",
            "1",
            "--cpu-threads",
            threads,
            "--local-files-only",
        ],
        "piper": [
            str(venv / "bin/python"),
            "-m",
            "wyoming_piper",
            "--uri",
            f"tcp://127.0.0.1:{ports['piper']}",
            "--voice",
            voice.stem,
            "--data-dir",
            str(voices),
            "--local-files-only",
        ],
    }
    env = {**os.environ, "PARLEY_HOME": str(scratch / "home")}
    processes = []
    for name, command in commands.items():
        log = open(scratch / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        processes.append(process)
        wait_listening(ports[name], process, name)
    return ports, processes


def bench(kind: str, servers: list[str], extra: list[str], rounds: int) -> dict:
    """wyoming-bench's summary table: {mode: {server: {column: value}}}."""
    done = subprocess.run(
        [
            str(VENV / "bin/wyoming-bench"),
            kind,
            *servers,
            *extra,
            "--rounds",
            str(rounds),
            "--mode",
            "both",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"bench: wyoming-bench {kind} failed: {done.stderr[-1500:]}")
    return parse_summary(done.stdout)


def parse_summary(text: str) -> dict:
    result: dict = {}
    mode, columns = None, []
    for line in text.split("Summary (lower is better)", 1)[-1].splitlines():
        header = re.match(r"^\[(\w+)\]$", line.strip())
        if header:
            mode, columns = header[1], []
            result[mode] = {}
        elif line.strip().startswith("server "):
            columns = line.split()[1:]
        elif mode and columns and (row := SUMMARY_ROW.match(line)):
            values = row["values"].split()
            result[mode][row["server"]] = {
                name: _number(value) for name, value in zip(columns, values, strict=False)
            }
    return result


def _number(value: str) -> float | str:
    try:
        return float(value.rstrip("%s"))
    except ValueError:
        return value


def ratio(table: dict, mode: str, ours: str, theirs: str, key: str) -> float | None:
    try:
        return round(table[mode][ours][key] / table[mode][theirs][key], 2)
    except (KeyError, ZeroDivisionError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-wyoming-bench-") as tmp:
        scratch = Path(tmp)
        corpus = scratch / "corpus"
        corpus.mkdir()
        spoken_corpus(corpus, "many")
        ports, processes = start_servers(scratch)
        try:
            at = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
            stt = bench(
                "stt", [at["parley"], at["faster-whisper"]], ["--corpus", str(corpus)], args.rounds
            )
            tts = bench("tts", [at["parley"], at["piper"]], ["--texts", *TEXTS], args.rounds)
        finally:
            for process in processes:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
    report = {
        "stt": stt,
        "tts": tts,
        "stt_total_ratio": ratio(
            stt, "non_streaming", at["parley"], at["faster-whisper"], "Total_mean"
        ),
        "tts_total_ratio": ratio(tts, "non_streaming", at["parley"], at["piper"], "Total_mean"),
        "tts_ttfa_ratio": ratio(tts, "non_streaming", at["parley"], at["piper"], "TTFT_mean"),
        "tts_streaming_ttfa_ratio": ratio(tts, "streaming", at["parley"], at["piper"], "TTFT_mean"),
        "servers": at,
        "targets": TARGETS,
    }
    if args.json:
        print(json.dumps(report))
    else:
        names = {v: k for k, v in at.items()}
        for kind in ("stt", "tts"):
            for mode, rows in report[kind].items():
                for server, row in rows.items():
                    shown = "  ".join(f"{k} {v}" for k, v in row.items())
                    print(f"{kind} {mode:<14} {names.get(server, server):<15} {shown}")
        for key in (
            "stt_total_ratio",
            "tts_total_ratio",
            "tts_ttfa_ratio",
            "tts_streaming_ttfa_ratio",
        ):
            target = TARGETS.get(key)
            print(f"{key}: {report[key]}" + (f" (target <= {target})" if target else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
