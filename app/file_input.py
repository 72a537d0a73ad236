"""An audio file played as if it were a live input: chunks at the pace of real time.

Feeds the live view from a recording (`python -m app --input-file speech.wav`), and stands in
for a microphone in the tests, screenshots and benchmark (`speed` > 1 plays faster).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import soundfile

from app.audio_input import CHUNK_SECONDS, OnStop, Sink


class FileSource:
    """Plays `audio` (mono samples at `sample_rate`) in chunks of `chunk_seconds` from a thread."""

    overflows = 0  # a file loses nothing

    def __init__(self, audio: np.ndarray, sample_rate: int, chunk_seconds: float = CHUNK_SECONDS,
                 speed: float = 1.0):
        self.audio, self.sample_rate, self.speed = np.asarray(audio, np.float32), sample_rate, speed
        self._chunk = max(1, round(chunk_seconds * sample_rate))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> FileSource:
        """The file's audio, channels averaged, at its own rate."""
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return cls(audio.mean(axis=1), rate, **kwargs)

    def start(self, sink: Sink, on_stop: OnStop) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._play, args=(sink, on_stop), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _play(self, sink: Sink, on_stop: OnStop) -> None:
        begin = time.perf_counter()
        for start in range(0, len(self.audio), self._chunk):
            due = begin + (start + self._chunk) / self.sample_rate / self.speed  # when the chunk is whole
            if self._stop.wait(max(0.0, due - time.perf_counter())):
                return
            sink(self.audio[start:start + self._chunk].copy(), time.perf_counter())
        on_stop(None)


class FileBackend:
    """One input "device": a file, or several named arrays (as the tests use)."""

    def __init__(self, sources: dict[str, FileSource]):
        self._sources = sources

    def input_devices(self, rescan: bool = False) -> list[str]:
        return list(self._sources)

    def source(self, device: str) -> FileSource:
        return self._sources[device]
