"""A private PulseAudio server with a virtual microphone and a virtual speaker.

Tests and benchmarks use it to run Parley against real audio streams without a
sound card: the app talks to PortAudio (sounddevice), PortAudio to ALSA, ALSA's
pulse plugin to this server, exactly as on a desktop. The harness plays spoken
WAVs into the microphone in real time and records what the app says.

Topology (all 48 kHz, s16le)::

    paplay --device=parley_mic_in ──> parley_mic_in ──┐ left
                                     (remap sink)     ├──> parley_room (stereo null sink)
    app (default sink) ─────────────> parley_speaker ─┘ right       │
                                     (remap sink)           parley_room.monitor
                                                              │               │
    app (default source) <── parley_mic (remap source, left) ─┘     record_mic_and_speaker()

Both virtual devices are channels of ONE null sink, so they share one clock
and one render call: the room's monitor is, sample for sample, the timeline
of what a person in the room would hear. That is what makes "end of the
question -> start of the answer" measurable from a single stereo recording.

The server runs in PulseAudio's system mode when started as root (containers,
CI), in user mode otherwise. Everything it needs lives in one temporary
folder; the only things touched outside it are the folders system mode
insists on (/var/run/pulse and /var/lib/pulse, created empty by the daemon).

Import this module freely: it imports no pytest and does not import
sounddevice (PortAudio lists devices once, when it is initialised).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

RATE = 48000
ROOM = "parley_room"  # stereo null sink: left = microphone, right = speaker
SPEAKER = "parley_speaker"  # the default sink: whatever the app plays
MIC_IN = "parley_mic_in"  # play into this sink to "speak" into the microphone
MIC = "parley_mic"  # the default source: what the app records
MIC_CHANNEL = 0  # in record_mic_and_speaker(): left
SPEAKER_CHANNEL = 1  # in record_mic_and_speaker(): right
CLOCK_SINK = "parley_clock"  # discards the room's monitor; see _server_script()

TEMP_PREFIX = "parley-audio-"
STOCK_ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
START_TIMEOUT_S = 5.0

# Debian packages the harness runs: the daemon and its null/remap/loopback
# modules, pactl/pacat/paplay, ALSA's pulse plugin and PortAudio itself.
DEBIAN_PACKAGES = ("pulseaudio", "pulseaudio-utils", "libasound2-plugins", "libportaudio2")


# ---------------------------------------------------------------------------
# WAV helpers (numpy in, numpy out) for tests and benchmarks


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int = RATE) -> Path:
    """Write float samples in [-1, 1] (shape (n,) or (n, channels)) as 16-bit PCM."""
    data = np.asarray(samples, dtype=np.float32)
    pcm = (np.clip(data, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return Path(path)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV as float32: shape (n,) when mono, (n, channels) otherwise."""
    with wave.open(str(path), "rb") as wav:
        channels, rate = wav.getnchannels(), wav.getframerate()
        assert wav.getsampwidth() == 2, f"{path}: only 16-bit PCM is supported"
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    audio = pcm.astype(np.float32) / 32768.0
    return (audio if channels == 1 else audio.reshape(-1, channels)), rate


def onset(samples: np.ndarray, threshold: float = 0.05) -> int | None:
    """Index of the first sample whose magnitude reaches threshold, or None (silence)."""
    loud = np.flatnonzero(np.abs(samples) >= threshold)
    return int(loud[0]) if loud.size else None


def offset(samples: np.ndarray, threshold: float = 0.05) -> int | None:
    """Index just after the last sample whose magnitude reaches threshold, or None."""
    loud = np.flatnonzero(np.abs(samples) >= threshold)
    return int(loud[-1]) + 1 if loud.size else None


# ---------------------------------------------------------------------------
# PortAudio


def refresh_portaudio() -> None:
    """Make an already imported sounddevice see the current environment.

    PortAudio (and the ALSA configuration under it) reads the device list
    when it is initialised, i.e. at `import sounddevice`. After changing
    PULSE_SERVER or ALSA_CONFIG_PATH in os.environ, re-initialise it; open
    streams are closed by this. Without sounddevice imported, nothing to do.
    """
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


@contextlib.contextmanager
def use_env(env: Mapping[str, str]) -> Iterator[None]:
    """Set env in os.environ (and PortAudio) for a while, then restore both."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    refresh_portaudio()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        refresh_portaudio()


# ---------------------------------------------------------------------------
# Recording


class Recorder:
    """One running `pacat --record` on a source, written to a WAV on stop().

    pacat writes raw PCM as it arrives, so a recorder killed halfway still
    leaves usable data; the WAV header is added once, at the end.
    """

    def __init__(
        self,
        source: str,
        path: str | os.PathLike,
        channels: int,
        env: Mapping[str, str],
        latency_ms: int = 10,
    ) -> None:
        self.source, self.path, self.channels = source, Path(path), channels
        self._raw = self.path.with_name(self.path.name + ".raw")
        with open(self._raw, "wb") as raw:
            self._process = subprocess.Popen(
                [
                    "pacat",
                    "--record",
                    "--raw",
                    f"--device={source}",
                    "--format=s16le",
                    f"--rate={RATE}",
                    f"--channels={channels}",
                    # small fragments: no bursts (0: whatever the server gives a client
                    # that asks for nothing, as parecord does by default)
                    *([f"--latency-msec={latency_ms}"] if latency_ms else []),
                    f"--client-name=parley-recorder-{source}",
                ],
                stdout=raw,
                stderr=subprocess.PIPE,
                env=dict(env),
            )
        self._wait_for_data()

    def _wait_for_data(self) -> None:
        """Return once audio flows, so nothing played after start is missed."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._raw.stat().st_size == 0:
            if self._process.poll() is not None:
                raise RuntimeError(f"recording {self.source} failed: {self._stderr()}")
            if time.monotonic() > deadline:
                self._process.kill()
                raise RuntimeError(f"recording {self.source}: no audio after {START_TIMEOUT_S} s")
            time.sleep(0.002)

    def _stderr(self) -> str:
        return self._process.communicate()[1].decode(errors="replace").strip()

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> Path:
        """Stop recording and return the WAV (48 kHz, 16-bit, `channels` channels)."""
        if self.running:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process.communicate()
        if self._raw.exists():
            pcm = self._raw.read_bytes()
            frame = 2 * self.channels
            with wave.open(str(self.path), "wb") as out:
                out.setnchannels(self.channels)
                out.setsampwidth(2)
                out.setframerate(RATE)
                out.writeframes(pcm[: len(pcm) - len(pcm) % frame])
            self._raw.unlink()
        return self.path

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------
# The server


class VirtualAudio:
    """A PulseAudio daemon with the topology above, private to this process.

    Use start()/stop() or `with VirtualAudio() as audio:`. Children get the
    server through `audio.env` (merge it into their environment); this
    process gets it with `with use_env(audio.env):`.
    """

    def __init__(self, *, tuned: bool = True) -> None:
        """tuned=False: a sound server as a desktop's is, for the benchmark's outside
        measurement: PulseAudio's own daemon defaults, plain null sinks with no clock
        loopback, and a recorder that asks for no particular latency. The tuned room
        (the default) keeps a 10 ms reader on the room so the null sink renders in
        small steps: the tests' timing does not then depend on how a client asks."""
        self.tuned = tuned
        self.folder: Path | None = None
        self.env: dict[str, str] = {}
        self._daemon: subprocess.Popen | None = None
        self._children: list[subprocess.Popen] = []
        self._recorders: list[Recorder] = []

    # -- life cycle ---------------------------------------------------------

    def start(self) -> VirtualAudio:
        """Start the daemon and wait until ALSA can reach it (well under 2 s)."""
        if self._daemon is not None:
            return self
        reap_stale_servers()
        self.folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        atexit.register(self.stop)
        try:
            self._write_files()
            self._launch()
            self._check_alsa()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill recorders, players and the daemon; remove the folder. Safe to repeat."""
        for recorder in self._recorders:
            with contextlib.suppress(Exception):
                recorder.stop()
        for child in self._children:
            _end(child)
        self._recorders, self._children = [], []
        if self._daemon is not None:
            _end(self._daemon)
            self._daemon = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        self.env = {}
        atexit.unregister(self.stop)

    def __enter__(self) -> VirtualAudio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def socket(self) -> Path:
        return self._folder / "run" / "native"

    @property
    def _folder(self) -> Path:
        if self.folder is None:
            raise RuntimeError("the virtual audio server is not running: call start()")
        return self.folder

    def _write_files(self) -> None:
        """The daemon's and the clients' configuration, all inside the folder.

        The folder must be traversable by the `pulse` user (system mode drops
        to it), and the socket folder writable by it.
        """
        folder = self._folder
        folder.chmod(0o711)
        for name in ("run", "state"):
            (folder / name).mkdir(mode=0o700)
            if os.geteuid() == 0:
                user = _pulse_user()
                os.chown(folder / name, user.pw_uid, user.pw_gid)
        (folder / "owner").write_text(_owner_stamp(os.getpid()))
        (folder / "daemon.conf").write_text(DAEMON_CONF if self.tuned else PLAIN_DAEMON_CONF)
        (folder / "server.pa").write_text(_server_script(self.socket, tuned=self.tuned))
        (folder / "client.conf").write_text("autospawn = no\n")
        (folder / "cookie").write_bytes(os.urandom(256))  # unused (anonymous), but keeps
        # clients from creating ~/.config/pulse/cookie
        for name in ("daemon.conf", "server.pa", "client.conf"):
            (folder / name).chmod(0o644)
        self.env = {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_COOKIE": str(folder / "cookie"),
            "PULSE_CLIENTCONFIG": str(folder / "client.conf"),
        }
        if STOCK_ALSA_CONF.exists():
            self.env["ALSA_CONFIG_PATH"] = _write_alsa_conf(folder / "alsa", capture=True)
            _write_alsa_conf(folder / "alsa-no-mic", capture=False)

    def _launch(self) -> None:
        """Run the daemon in the foreground of a child and wait for its socket.

        The native protocol is loaded last in server.pa, so once the socket
        exists every device is there too.
        """
        folder = self._folder
        mode = ["--system"] if os.geteuid() == 0 else []
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(folder),
            "PULSE_CONFIG": str(folder / "daemon.conf"),  # not /etc/pulse/daemon.conf
            "PULSE_RUNTIME_PATH": str(folder / "run"),  # honoured in system mode too,
            "PULSE_STATE_PATH": str(folder / "state"),  # though it still creates /var/*/pulse
        }
        with open(folder / "daemon.log", "wb") as log:
            self._daemon = subprocess.Popen(
                ["pulseaudio", *mode, "-n", "-F", str(folder / "server.pa")]
                + ["--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no"]
                + ["--daemonize=no", "--log-target=stderr"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not for it
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.socket.is_socket():
            if self._daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pulseaudio did not start:\n{self.log()}")
            time.sleep(0.005)

    def _check_alsa(self) -> None:
        """Open ALSA's default PCM both ways in a child, through our ALSA configs.

        A broken ALSA configuration makes alsa-lib abort() the process that
        loads it, so it is tried in a throwaway child first. This also proves
        the pulse plugin is installed and reaches the server, and that the
        no-microphone config really refuses to record.
        """
        checks = [(self.env, "playback capture")]
        if "ALSA_CONFIG_PATH" in self.env:
            checks.append((self.no_microphone_env(), "playback"))
        for env, expected in checks:
            done = subprocess.run(
                [sys.executable, "-c", ALSA_PROBE],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=10,
            )
            if done.stdout.strip() != expected:
                raise RuntimeError(
                    f"ALSA's default device through {env.get('ALSA_CONFIG_PATH', 'alsa.conf')}: "
                    f"opens {done.stdout.strip()!r}, expected {expected!r} "
                    f"(is libasound2-plugins installed?)\n{done.stderr}"
                )

    def log(self) -> str:
        """The daemon's log so far (warnings and errors)."""
        path = self._folder / "daemon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- environments -------------------------------------------------------

    def no_microphone_env(self) -> dict[str, str]:
        """Env for a machine with a speaker but no microphone.

        The server stays reachable, but ALSA's `default` and `pulse` PCMs are
        playback-only, so PortAudio lists no device with input channels (a
        PulseAudio source cannot be hidden: every sink has a monitor).
        """
        if "ALSA_CONFIG_PATH" not in self.env:
            raise RuntimeError(f"no microphone-less ALSA config without {STOCK_ALSA_CONF}")
        return {**self.env, "ALSA_CONFIG_PATH": str(self._folder / "alsa-no-mic.conf")}

    def no_devices_env(self) -> dict[str, str]:
        """Env for a machine with no sound server at all: PortAudio lists no devices."""
        return {**self.env, "PULSE_SERVER": f"unix:{self._folder / 'no-such-socket'}"}

    # -- server control -----------------------------------------------------

    def pactl(self, *args: str) -> str:
        """Run pactl against this server; return its stdout, raise on failure."""
        done = subprocess.run(
            ["pactl", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def load_module(self, name: str, **args: object) -> int:
        """Load a PulseAudio module at run time; returns its index."""
        return int(self.pactl("load-module", name, *(f"{k}={v}" for k, v in args.items())))

    def unload_module(self, index: int) -> None:
        self.pactl("unload-module", str(index))

    @contextlib.contextmanager
    def module(self, name: str, **args: object) -> Iterator[int]:
        """A module loaded for the duration of a with-block."""
        index = self.load_module(name, **args)
        try:
            yield index
        finally:
            self.unload_module(index)

    def sink_inputs_of(self, module_index: int) -> list[int]:
        """Indices of the streams a module plays into sinks."""
        streams = json.loads(self.pactl("--format=json", "list", "sink-inputs"))
        return [s["index"] for s in streams if str(s.get("owner_module")) == str(module_index)]

    @contextlib.contextmanager
    def echo_loopback(self, gain_db: float = -10.0, latency_ms: int = 40) -> Iterator[int]:
        """Let the speaker leak into the microphone, like a laptop without a headset.

        The speaker's monitor is looped into parley_mic_in at `gain_db`, `latency_ms`
        late. Gone again when the block exits. Yields the module index.
        """
        with self.module(
            "module-loopback",
            source=f"{SPEAKER}.monitor",
            sink=MIC_IN,
            latency_msec=latency_ms,
            channels=1,
            source_dont_move="true",
            sink_dont_move="true",
            sink_input_properties="media.name=parley-echo",
        ) as index:
            for stream in self.sink_inputs_of(index):
                # a linear factor: pactl reads "-10dB" as "10 dB quieter than now"
                self.pactl("set-sink-input-volume", str(stream), f"{10 ** (gain_db / 20):.6f}")
            time.sleep((latency_ms + 100) / 1000)  # let the loopback fill to its latency
            yield index

    # -- audio in and out ---------------------------------------------------

    def play_into_mic(
        self, wav_path: str | os.PathLike, *, block: bool = True
    ) -> subprocess.Popen | None:
        """Speak a WAV into the microphone in real time (any rate/channels; resampled).

        block=True waits until the last sample has been played; otherwise the
        running paplay is returned (stop() ends it if still running).
        """
        return self.play_into(MIC_IN, wav_path, block=block)

    def play_into(
        self, sink: str, wav_path: str | os.PathLike, *, block: bool = True
    ) -> subprocess.Popen | None:
        """Play a WAV into any sink of this server in real time; see play_into_mic()."""
        command = [
            "paplay",
            f"--device={sink}",
            "--latency-msec=100",  # real time either way; a buffer that survives a busy CPU
            "--client-name=parley-voice",
            str(wav_path),
        ]
        env = {**os.environ, **self.env}
        if block:
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"paplay {wav_path}: {done.stderr.strip()}")
            return None
        player = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        self._children.append(player)
        return player

    def record(self, source: str, path: str | os.PathLike, channels: int = 1) -> Recorder:
        """Record any source of this server (48 kHz, 16-bit) until .stop()."""
        recorder = Recorder(
            source, path, channels, {**os.environ, **self.env}, latency_ms=10 if self.tuned else 0
        )
        self._recorders.append(recorder)
        return recorder

    def record_speaker(self, path: str | os.PathLike) -> Recorder:
        """Record what the app plays (mono)."""
        return self.record(f"{SPEAKER}.monitor", path)

    def record_mic(self, path: str | os.PathLike) -> Recorder:
        """Record what the app's microphone hears (mono), echo included."""
        return self.record(MIC, path)

    def record_mic_and_speaker(self, path: str | os.PathLike) -> Recorder:
        """Record the room: left = microphone, right = speaker, on one timeline."""
        return self.record(f"{ROOM}.monitor", path, channels=2)


# ---------------------------------------------------------------------------
# Configuration text

DAEMON_CONF = """\
# Parley's test audio server: a fixed, real-time-free setup, whatever /etc says.
exit-idle-time = -1
flat-volumes = no
realtime-scheduling = no
high-priority = no
no-cpu-limit = yes
enable-shm = no
default-sample-format = s16le
default-sample-rate = 48000
alternate-sample-rate = 48000
default-sample-channels = 1
resample-method = speex-float-1
log-level = notice
"""


PLAIN_DAEMON_CONF = """\
# A desktop's PulseAudio: the daemon's own defaults, except that it stays up
# while idle (a desktop session's does too) and logs less.
exit-idle-time = -1
log-level = notice
"""


def _server_script(socket: Path, *, tuned: bool = True) -> str:
    """server.pa: the devices, the defaults, and last the socket clients connect to.

    The clock loopback keeps a 10 ms reader on the room's monitor at all
    times. A null sink with nobody asking for low latency renders up to 2 s
    ahead in one go and only looks again when that is used up; new readers
    (the app's microphone, a recorder) would then wait up to 2 s for their
    first audio, and the microphone would get speech in bursts. Suspending
    and resuming the room once the clock is there drops what it rendered
    ahead before that.
    """
    room = "channels=2 channel_map=front-left,front-right"
    mono = "channels=1 channel_map=mono remix=no"
    clock = f"""\
load-module module-null-sink sink_name={CLOCK_SINK} rate={RATE} channels=1 \
sink_properties=device.description=Parley-clock
load-module module-loopback source={ROOM}.monitor sink={CLOCK_SINK} latency_msec=10 channels=1 \
source_dont_move=true sink_dont_move=true
suspend-sink {ROOM} 1
suspend-sink {ROOM} 0
"""
    return f"""\
load-module module-null-sink sink_name={ROOM} rate={RATE} {room} \
sink_properties=device.description=Parley-room
load-module module-remap-sink sink_name={SPEAKER} master={ROOM} master_channel_map=front-right \
{mono} sink_properties=device.description=Parley-speaker
load-module module-remap-sink sink_name={MIC_IN} master={ROOM} master_channel_map=front-left \
{mono} sink_properties=device.description=Parley-voice-into-microphone
load-module module-remap-source source_name={MIC} master={ROOM}.monitor \
master_channel_map=front-left {mono} source_properties=device.description=Parley-microphone
{clock if tuned else ""}set-default-sink {SPEAKER}
set-default-source {MIC}
load-module module-native-protocol-unix auth-anonymous=1 auth-cookie-enabled=0 socket={socket}
"""


def _write_alsa_conf(stem: Path, *, capture: bool) -> str:
    """An ALSA config: the stock one, then `default` (and `pulse`) routed to PulseAudio.

    Debian's own hook only routes `default` to pulse if a server was running
    when ALSA first read its configuration, and a user's ~/.asoundrc may
    override it; ours is loaded by a hook that runs after all of those. With
    capture=False both PCMs are playback-only: a machine without microphone.
    """
    if capture:
        pcms = 'pcm.!default { type pulse hint { show on description "Parley virtual audio" } }\n'
    else:
        pcms = "".join(
            f"pcm.!{name} {{ type asym playback.pcm {{ type pulse }} "
            f'hint {{ show on description "Parley, speaker only" }} }}\n'
            for name in ("default", "pulse")
        )
    late = stem.with_name(stem.name + "-late.conf")
    late.write_text(pcms + "ctl.!default { type pulse }\n")
    main = stem.with_name(stem.name + ".conf")
    main.write_text(
        f'<{STOCK_ALSA_CONF}>\n@hooks.1 {{ func load files [ "{late}" ] errors false }}\n'
    )
    return str(main)


ALSA_PROBE = """\
import ctypes, ctypes.util
alsa = ctypes.CDLL(ctypes.util.find_library("asound"))
opens = []
for stream, name in ((0, "playback"), (1, "capture")):
    pcm = ctypes.c_void_p()
    if alsa.snd_pcm_open(ctypes.byref(pcm), b"default", stream, 0) == 0:
        alsa.snd_pcm_close(pcm)
        opens.append(name)
print(*opens)
"""


# ---------------------------------------------------------------------------
# Leftovers of crashed runs


def _owner_stamp(pid: int) -> str:
    """pid plus its start time, so a recycled pid is not taken for the owner."""
    return f"{pid} {_start_time(pid)}"


def _start_time(pid: int) -> str:
    """When a live process started (clock ticks since boot); "" if dead or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "" if fields[0] in ("Z", "X") else fields[19]  # fields 3 and 22 of proc(5)


def _stale(folder: Path) -> bool:
    """True once the process that made folder has died.

    A folder without an owner file yet may be one that another harness is
    creating right now; it only counts as stale after a minute.
    """
    try:
        pid, started = (folder / "owner").read_text().split()
    except FileNotFoundError:
        if not folder.exists():
            return True
        return time.time() - folder.stat().st_mtime > 60
    except (OSError, ValueError):
        return True
    return _start_time(int(pid)) != started


def reap_stale_servers() -> None:
    """Kill daemons and remove folders left by harness processes that died.

    Only daemons started by this harness are considered (their command line
    names a parley-audio-* folder), and only when the process that started
    them is gone; concurrent harnesses in other processes are left alone.
    """
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv[0].endswith(b"pulseaudio") or b"-F" not in argv:
            continue
        script = Path(os.fsdecode(argv[argv.index(b"-F") + 1]))
        if script.parent.name.startswith(TEMP_PREFIX) and _stale(script.parent):
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)
    for folder in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        if _stale(folder):
            shutil.rmtree(folder, ignore_errors=True)


def _pulse_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("pulse")
    except KeyError:
        raise RuntimeError(
            "PulseAudio's system mode (used as root) needs the 'pulse' user, "
            "which the Debian package pulseaudio creates"
        ) from None


def _end(process: subprocess.Popen) -> None:
    """Terminate a child, politely first."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
