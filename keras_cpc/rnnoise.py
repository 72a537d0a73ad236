"""RNNoise, a learned noise suppressor (Valin, "A hybrid DSP/deep learning approach to real-time full-band speech
enhancement", MMSP 2018), streaming 10 ms frames at 16 kHz (NumPy, soxr and the `pyrnnoise` wheel's library).

xiph's C library, with its weights built in, comes in the `pyrnnoise` wheel; its library is called directly, since the
package's own module needs audio and plotting packages to load. RNNoise runs at 48 kHz on 480-sample frames of int16's
scale: each 16 kHz frame is resampled up with soxr's streaming resampler, and the output back down, so that frames
pushed one at a time give the samples of the whole recording resampled at once.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from functools import cache
from pathlib import Path

import numpy as np
import soxr

from keras_cpc.audio import SAMPLE_RATE

RATE = 48000  # the only rate RNNoise runs at
FRAME = 160  # 10 ms at 16 kHz, what `RNNoise.process` takes
LAG = 960  # RNNoise's own, at 48 kHz (measured: the peak of the output's cross-correlation with a clean input)
# the output's lag behind the input at 16 kHz: `LAG`, and `BUFFERED` for the resamplers, whose output comes in
# blocks (at most 1074 samples short of the input's length, measured over 200,000 frames)
BUFFERED = 1440
DELAY = LAG * SAMPLE_RATE // RATE + BUFFERED
LIBRARIES = {"linux": "librnnoise.so", "darwin": "librnnoise.dylib", "win32": "rnnoise.dll"}


@cache
def library() -> ctypes.CDLL:
    """The RNNoise library of the installed `pyrnnoise` wheel, its functions typed (the package is not imported)."""
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("RNNoise needs the pyrnnoise package", name="pyrnnoise")
    path = Path(spec.submodule_search_locations[0]) / LIBRARIES.get(sys.platform, "librnnoise.so")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        raise ImportError(f"RNNoise's library did not load from {path} ({error})", name="pyrnnoise") from None
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                          ctypes.POINTER(ctypes.c_float)]
    return lib


class RNNoise:
    """One stream through RNNoise: `process` a 10 ms frame at 16 kHz (float, about [-1, 1]), get back the frame's
    length of suppressed samples `DELAY` samples behind the input (the first ones silence)."""

    def __init__(self) -> None:
        self._library = library()
        self._frame = self._library.rnnoise_get_frame_size()  # 480: 10 ms at 48 kHz
        self._state = self._library.rnnoise_create(None)
        self._up = soxr.ResampleStream(SAMPLE_RATE, RATE, 1, dtype="float32")
        self._down = soxr.ResampleStream(RATE, SAMPLE_RATE, 1, dtype="float32")
        self._upsampled = np.zeros(0, np.float32)  # at 48 kHz, not yet a whole RNNoise frame
        self._out = np.zeros(BUFFERED, np.float32)  # at 16 kHz, not yet returned

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._library.rnnoise_destroy(self._state)

    def process(self, frame: np.ndarray) -> np.ndarray:
        """The next `FRAME` samples out for `FRAME` samples in (float32)."""
        upsampled = np.concatenate([self._upsampled, self._up.resample_chunk(np.asarray(frame, np.float32))])
        whole = len(upsampled) // self._frame * self._frame
        self._upsampled = upsampled[whole:]
        if whole:
            samples = np.ascontiguousarray(upsampled[:whole] * 32768, np.float32)  # RNNoise works on int16's scale
            pointer = ctypes.POINTER(ctypes.c_float)
            for start in range(0, whole, self._frame):
                chunk = samples[start:start + self._frame]
                self._library.rnnoise_process_frame(self._state, chunk.ctypes.data_as(pointer),
                                                    chunk.ctypes.data_as(pointer))
            self._out = np.concatenate([self._out, self._down.resample_chunk(samples / 32768)])
        if len(self._out) < len(frame):
            raise RuntimeError(f"RNNoise's resamplers held back more than {BUFFERED} samples")
        out, self._out = self._out[:len(frame)], self._out[len(frame):]
        return out
