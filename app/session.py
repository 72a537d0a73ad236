"""A live session: audio source -> queue -> inference thread -> queue -> the UI's `poll`.

The source's callback only puts chunks on a `SimpleQueue` (never blocks). The inference thread
takes them in order, writes them to the session's WAV (when recording), resamples them to the
stream's rate, and pushes them to the stream (the gated recognizer, or a calibration's recorder);
the UI thread collects the results with `poll`.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import soundfile
import soxr

from app.audio_input import AudioSource
from app.engine.gating import SILENCE_DB, level_db
from app.engine.streaming import Prediction

_END = object()


class RecordingError(Exception):
    """The session's WAV file could not be written; the message names it."""


class Update(NamedTuple):
    """What one chunk produced: its predictions (NaN while gated), its level, when it arrived."""

    predictions: list[Prediction]
    level_db: float
    arrival: float


class Stopped(NamedTuple):
    """The source ended (`error` None) or failed (`error` says how)."""

    error: str | None


class Stream(Protocol):
    """What a session feeds: `GatedStream`, or `CalibrationRecorder`."""

    sample_rate: int

    def push(self, samples: np.ndarray) -> list[Prediction]: ...

    def flush(self) -> list[Prediction]: ...


class LiveSession:
    """Runs `source` through `stream` (None: level and recording only) until `stop`.

    Args:
        source: a not yet started audio source.
        stream: the gated recognizer (or a calibration's recorder), or None without a model.
        record_to: WAV file receiving the captured audio as it came in (mono, the source's rate).
    """

    def __init__(self, source: AudioSource, stream: Stream | None, record_to: Path | None = None):
        self.source, self.stream, self.record_to = source, stream, record_to
        self.last_arrival = time.perf_counter()  # of the latest chunk; starts the stall watchdog
        self._chunks: queue.SimpleQueue = queue.SimpleQueue()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        rate = stream.sample_rate if stream else source.sample_rate
        self._resampler = None if rate == source.sample_rate else \
            soxr.ResampleStream(source.sample_rate, rate, 1, dtype="float32")

    def start(self) -> None:
        """Opens the recording, starts the inference thread, then the source.

        Raises `AudioInputError` (the source) or `soundfile.LibsndfileError` (the recording).
        """
        self._recording = soundfile.SoundFile(self.record_to, "w", self.source.sample_rate, 1) \
            if self.record_to else None
        self._thread.start()
        try:
            self.source.start(self._on_chunk, lambda error: self._chunks.put(Stopped(error)))
        except Exception:
            self._chunks.put(_END)
            self._thread.join()
            raise

    def stop(self) -> list[Update | Stopped]:
        """Stops the source, lets the thread finish the queued audio and flush; returns the rest."""
        self.source.stop()
        self._chunks.put(_END)
        self._thread.join()
        return self.poll()

    def poll(self) -> list[Update | Stopped]:
        """Everything produced since the last call, in order (UI thread)."""
        results = []
        while True:
            try:
                results.append(self._results.get_nowait())
            except queue.Empty:
                return results

    def _on_chunk(self, samples: np.ndarray, arrival: float) -> None:  # audio thread
        self.last_arrival = arrival
        self._chunks.put((samples, arrival))

    def _run(self) -> None:
        try:
            while (item := self._chunks.get()) is not _END:
                if isinstance(item, Stopped):
                    self._results.put(item)
                    continue
                samples, arrival = item
                if self._recording:
                    self._record(samples)
                self._results.put(Update(self._predict(samples), level_db(samples), arrival))
            if self.stream:
                tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True) \
                    if self._resampler else np.zeros(0, np.float32)
                predictions = self.stream.push(tail) + self.stream.flush()
                self._results.put(Update(predictions, SILENCE_DB, time.perf_counter()))
        except RecordingError as error:
            self._results.put(Stopped(str(error)))
        except Exception as error:  # noqa: BLE001  (reported to the user; the window stays alive)
            self._results.put(Stopped(f"Inference failed: {error}"))
        finally:
            self._close_recording()

    def _record(self, samples: np.ndarray) -> None:
        try:
            self._recording.write(samples)
        except (RuntimeError, OSError) as error:  # a full disk, a removed drive
            recording, self._recording = self._recording, None
            with contextlib.suppress(RuntimeError, OSError):  # the write's failure is the one to report
                recording.close()
            raise RecordingError(f"Recording to {self.record_to} failed ({error})") from None

    def _close_recording(self) -> None:
        """Closes the WAV, which writes its length into the header; a failure is reported."""
        if self._recording:
            recording, self._recording = self._recording, None
            try:
                recording.close()
            except (RuntimeError, OSError) as error:
                self._results.put(Stopped(f"Recording to {self.record_to} could not be completed ({error})"))

    def _predict(self, samples: np.ndarray) -> list[Prediction]:
        if self.stream is None:
            return []
        if self._resampler:
            samples = self._resampler.resample_chunk(samples)
        return self.stream.push(samples)
