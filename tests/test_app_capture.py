"""Real capture through PortAudio: a PulseAudio daemon whose virtual source plays a known WAV.

Needs `pulseaudio`, `libportaudio2` and `libasound2-plugins` (PortAudio reaches PulseAudio
through ALSA's "pulse" device); skips, saying why, where they are missing or the daemon cannot
start. The daemon runs in the foreground as a child of the test (root is fine), with its socket
and state in a temporary folder; its `module-pipe-source` turns what the test writes to a FIFO
into the default input, at the pace the test writes it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import soundfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt loads: no display needed
pytest.importorskip("pytestqt")

from app.audio_input import AudioInputError, SoundDeviceBackend  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.window import MainWindow  # noqa: E402

RATE = 16000
CHUNK = 800  # samples written to the FIFO every 50 ms


class Pulse(NamedTuple):
    fifo: Path  # what is written here is the default input
    daemon: subprocess.Popen


@pytest.fixture
def pulse(tmp_path_factory) -> Iterator[Pulse]:
    """A running PulseAudio daemon (this process's sound server) whose only source reads a FIFO."""
    if shutil.which("pulseaudio") is None:
        pytest.skip("pulseaudio is not installed (apt-get install pulseaudio libportaudio2 libasound2-plugins)")
    folder = tmp_path_factory.mktemp("pulse")
    folder.chmod(0o700)
    fifo, socket = folder / "source.fifo", folder / "native"
    environment = {"XDG_RUNTIME_DIR": str(folder), "HOME": str(folder), "PULSE_SERVER": f"unix:{socket}"}
    command = ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "-n",
               "--disable-shm=yes", "--log-target=stderr",
               f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
               f"--load=module-pipe-source source_name=test_source file={fifo} format=float32le "
               f"rate={RATE} channels=1"]
    daemon = subprocess.Popen(command, env={**os.environ, **environment}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not (socket.exists() and fifo.exists()):
            if daemon.poll() is not None or time.monotonic() > deadline:
                reason = daemon.stderr.read()[-500:] if daemon.poll() is not None else "timeout"
                pytest.skip(f"the PulseAudio daemon did not start: {reason}")
            time.sleep(0.05)
        with pytest.MonkeyPatch.context() as patch:
            for key, value in environment.items():
                patch.setenv(key, value)
            yield Pulse(fifo, daemon)
    finally:
        if daemon.poll() is None:
            daemon.terminate()
        daemon.wait(timeout=10)


def _pulse_window(qtbot, tmp_path: Path) -> MainWindow:
    backend = SoundDeviceBackend()
    try:
        devices = backend.input_devices()
    except AudioInputError as error:
        pytest.skip(str(error))
    if "pulse" not in devices:
        pytest.skip(f"PortAudio has no 'pulse' device (install libasound2-plugins); it has {devices}")
    settings = Settings.in_file(tmp_path / "settings.ini")
    settings.last_folder, settings.device = str(tmp_path), "pulse"
    window = MainWindow(settings, backend, tmp_path / "no_model")  # capture and recording need no model
    qtbot.addWidget(window)
    window.show()
    assert window.device_box.currentText() == "pulse"
    return window


def _play_into(fifo: Path, audio: np.ndarray, stop: threading.Event | None = None) -> None:
    """Writes `audio` to the FIFO in real time (the pipe source has no clock of its own), until the
    audio ends, `stop` is set or the daemon is gone."""
    samples = np.asarray(audio, "<f4")
    with open(fifo, "wb", buffering=0) as pipe:
        begin = time.perf_counter()
        for start in range(0, len(samples), CHUNK):
            if stop is not None and stop.is_set():
                return
            time.sleep(max(0.0, begin + start / RATE - time.perf_counter()))
            try:
                pipe.write(samples[start:start + CHUNK].tobytes())
            except BrokenPipeError:
                return


def _best_correlation(recorded: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation of `reference` with the stretch of `recorded` it matches best."""
    size = len(recorded) + len(reference)
    scores = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(reference, size)), size)
    lag = int(np.argmax(scores[:len(recorded) - len(reference) + 1]))
    return float(np.corrcoef(recorded[lag:lag + len(reference)], reference)[0, 1])


def test_capture_through_portaudio_records_what_the_source_plays(qtbot, tmp_path, pulse, speech_clip):
    path = tmp_path / "known.wav"
    soundfile.write(path, speech_clip[:2 * RATE], RATE, subtype="FLOAT")
    known = soundfile.read(path, dtype="float32")[0]
    window = _pulse_window(qtbot, tmp_path)
    window.record_box.setChecked(True)
    assert window.start_live(), window.message()
    recording = window.recording_path
    padding = np.zeros(RATE // 2, np.float32)  # so the whole clip is captured before stopping
    _play_into(pulse.fifo, np.concatenate([padding, known, padding]))
    qtbot.wait(200)
    window.stop_live()
    assert window.session is None and "stopped" not in window.message()
    recorded, rate = soundfile.read(recording, dtype="float32")
    assert rate == RATE and len(recorded) >= len(known)
    assert _best_correlation(recorded, known) > 0.99


def test_sound_server_gone_mid_session_is_reported(qtbot, tmp_path, pulse, speech_clip):
    window = _pulse_window(qtbot, tmp_path)
    assert window.start_live(), window.message()
    stop = threading.Event()
    player = threading.Thread(target=_play_into, args=(pulse.fifo, np.tile(speech_clip, 3), stop))
    player.start()
    try:
        qtbot.waitUntil(lambda: window.level_meter.value() > -60, timeout=5000)  # audio is flowing
        pulse.daemon.kill()  # the sound server goes away, as an unplugged device would
        qtbot.waitUntil(lambda: window.session is None, timeout=10000)
    finally:
        stop.set()
        player.join()
    # PortAudio ends the stream (here), or no callback comes at all (the watchdog)
    assert re.search(r"'pulse' stopped delivering audio|No audio from 'pulse'", window.message())
    assert window.start_button.text() == "Start"
