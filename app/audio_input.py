"""Live audio input behind a small interface, and its PortAudio implementation (sounddevice).

An `AudioBackend` lists input devices and opens an `AudioSource` on one. A started source
calls `sink(samples, arrival)` from its own thread for every chunk (mono float32 at its
`sample_rate`; `arrival` is `time.perf_counter()` when the chunk came in), and `on_stop(None)`
when its input ends or `on_stop(message)` when it fails. Both callbacks must return at once:
the session only puts the chunk on a queue. `app.file_input` is the other implementation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Protocol

import numpy as np

Sink = Callable[[np.ndarray, float], None]
OnStop = Callable[[str | None], None]
PREFERRED_RATE = 16000  # the models' rate: no resampling when the device offers it
CHUNK_SECONDS = 0.05


class AudioInputError(RuntimeError):
    """No usable audio input; the message says why, in words for the user."""


class AudioSource(Protocol):
    sample_rate: int

    def start(self, sink: Sink, on_stop: OnStop) -> None: ...

    def stop(self) -> None: ...


class AudioBackend(Protocol):
    def input_devices(self) -> list[str]: ...

    def source(self, device: str) -> AudioSource: ...


def load_sounddevice() -> ModuleType:
    """The `sounddevice` module; `AudioInputError` when the PortAudio library is missing or fails to start."""
    try:
        import sounddevice
    except Exception as error:  # no library (OSError, ImportError), or PortAudio failed to start
        raise AudioInputError(f"No live input: PortAudio is not available ({error}). Install it "
                              "(Debian/Ubuntu: libportaudio2). Opening audio files still works.") from None
    return sounddevice


class SoundDeviceBackend:
    """The input devices PortAudio knows, by name."""

    def input_devices(self) -> list[str]:
        """Names of the devices with input channels, default first (an empty list when none)."""
        sounddevice = load_sounddevice()
        devices = [d for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
        default = sounddevice.default.device[0]
        devices.sort(key=lambda d: d["index"] != default)
        return [d["name"] for d in devices]

    def source(self, device: str) -> SoundDeviceSource:
        return SoundDeviceSource(load_sounddevice(), device)


class SoundDeviceSource:
    """One mono input stream of a PortAudio device, at 16 kHz when it offers it.

    A stream that ends without `stop` (the device unplugged, the sound server gone) reports
    `on_stop(message)`; stalls with no callback at all are caught by the session's watchdog.
    """

    def __init__(self, sounddevice: ModuleType, device: str):
        self._sd, self.device = sounddevice, device
        matches = [d for d in sounddevice.query_devices()
                   if d["name"] == device and d["max_input_channels"] > 0]
        if not matches:
            raise AudioInputError(f"The input device {device!r} is not available any more.")
        self._index = matches[0]["index"]
        try:
            sounddevice.check_input_settings(self._index, channels=1, samplerate=PREFERRED_RATE)
            self.sample_rate = PREFERRED_RATE
        except (sounddevice.PortAudioError, ValueError):
            self.sample_rate = int(matches[0]["default_samplerate"])
        self._stream, self._stopping = None, False

    def start(self, sink: Sink, on_stop: OnStop) -> None:
        def callback(indata: np.ndarray, frames: int, time_info, status) -> None:
            sink(indata[:, 0].copy(), time.perf_counter())

        def finished() -> None:
            if not self._stopping:
                on_stop(f"The input device {self.device!r} stopped delivering audio "
                        "(disconnected, or its sound server ended).")

        try:
            self._stream = self._sd.InputStream(
                device=self._index, channels=1, samplerate=self.sample_rate, dtype="float32",
                blocksize=round(CHUNK_SECONDS * self.sample_rate), callback=callback,
                finished_callback=finished)
            self._stream.start()
        except (self._sd.PortAudioError, ValueError) as error:
            raise AudioInputError(f"Cannot open the input device {self.device!r}: {error}") from None

    def stop(self) -> None:
        self._stopping = True
        if self._stream is not None:
            try:
                self._stream.close()
            except self._sd.PortAudioError:
                pass  # the device is already gone: nothing left to close
            self._stream = None
