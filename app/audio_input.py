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
    overflows: int  # chunks the device reported audio lost before (the input was not read in time)

    def start(self, sink: Sink, on_stop: OnStop) -> None: ...

    def stop(self) -> None: ...


class AudioBackend(Protocol):
    def input_devices(self, rescan: bool = False) -> list[str]: ...

    def source(self, device: str) -> AudioSource: ...


def load_sounddevice() -> ModuleType:
    """The `sounddevice` module; `AudioInputError` when it is not installed, or the PortAudio library
    is missing or fails to start."""
    try:
        import sounddevice
    except ModuleNotFoundError as error:
        install = "in the keras-cpc checkout: pip install -e '.[app]'"
        raise AudioInputError(f"No live input: the Python package {error.name!r} is not installed ({install}). "
                              "Opening audio files still works.") from None
    except Exception as error:  # no library (OSError, ImportError), or PortAudio failed to start
        raise AudioInputError(f"No live input: PortAudio is not available ({error}). Install it "
                              "(Debian/Ubuntu: libportaudio2). Opening audio files still works.") from None
    return sounddevice


class SoundDeviceBackend:
    """The input devices PortAudio knows, by name."""

    def input_devices(self, rescan: bool = False) -> list[str]:
        """Names of the devices with input channels, default first (an empty list when none).

        PortAudio lists the devices once, when it starts; `rescan` restarts it to find the ones
        plugged in since (python-sounddevice#125), which closes any open stream.
        """
        sounddevice = load_sounddevice()
        try:
            if rescan:
                if sounddevice._initialized:  # not after a restart that failed
                    sounddevice._terminate()
                sounddevice._initialize()
            devices = [d for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
        except sounddevice.PortAudioError as error:
            raise AudioInputError(f"No live input: PortAudio failed ({error}). Press Refresh to try again; "
                                  "opening audio files still works.") from None
        default = sounddevice.default.device[0]
        devices.sort(key=lambda d: d["index"] != default)
        return [d["name"] for d in devices]

    def source(self, device: str) -> SoundDeviceSource:
        return SoundDeviceSource(load_sounddevice(), device)


class SoundDeviceSource:
    """One input stream of a PortAudio device, mono, at 16 kHz when it offers it. A device that
    cannot open one channel alone is opened in stereo (averaged), or with all its channels, of
    which the first is used (a multichannel interface: averaging would dilute one microphone).

    A stream that ends without `stop` (the device unplugged, the sound server gone) reports
    `on_stop(message)`; stalls with no callback at all are caught by the session's watchdog.
    """

    def __init__(self, sounddevice: ModuleType, device: str):
        self._sd, self.device = sounddevice, device
        try:
            matches = [d for d in sounddevice.query_devices()
                       if d["name"] == device and d["max_input_channels"] > 0]
        except sounddevice.PortAudioError as error:
            raise AudioInputError(f"Cannot list the input devices: {error}") from None
        if not matches:
            raise AudioInputError(f"The input device {device!r} is not available any more.")
        info = matches[0]
        self._index = info["index"]
        default_rate = int(info["default_samplerate"])
        self.channels = next((n for n in (1, 2) if n <= info["max_input_channels"] and self._accepts(n, default_rate)),
                             info["max_input_channels"])
        self.sample_rate = PREFERRED_RATE if self._accepts(self.channels, PREFERRED_RATE) else default_rate
        self._stream, self._stopping, self.overflows = None, False, 0

    def _accepts(self, channels: int, sample_rate: int) -> bool:
        try:
            self._sd.check_input_settings(self._index, channels=channels, samplerate=sample_rate)
        except (self._sd.PortAudioError, ValueError):
            return False
        return True

    def start(self, sink: Sink, on_stop: OnStop) -> None:
        def callback(indata: np.ndarray, frames: int, time_info, status) -> None:
            if status is not None and status.input_overflow:
                self.overflows += 1
            sink(indata.mean(axis=1) if self.channels == 2 else indata[:, 0].copy(), time.perf_counter())

        def finished() -> None:
            if not self._stopping:
                on_stop(f"The input device {self.device!r} stopped delivering audio "
                        "(disconnected, or its sound server ended). Press Refresh, then Start, to try again.")

        try:
            self._stream = self._sd.InputStream(
                device=self._index, channels=self.channels, samplerate=self.sample_rate, dtype="float32",
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
