"""Probe (sessions 30, 33 and 34): would a causal noise-suppressing front end before CPC bring valence back in noise?

    python docs/robustness/denoise_probe.py [--rnnoise | --webrtc LEVEL] finetune FINETUNE_OPTION...
    python docs/robustness/denoise_probe.py [--rnnoise | --webrtc LEVEL] robustness ROBUSTNESS_OPTION...
    PYTHONPATH=.:benchmarks python docs/robustness/denoise_probe.py [--rnnoise | --webrtc LEVEL] cost MODEL_DIR

(`finetune` with a --cache of its own; `robustness` without --read-speech.)

`cost` times the suppressor and the engine (`benchmarks/inference.py`'s real-time factor of `MODEL_DIR`, one thread, a
prediction every 0.1 s) on the same `COST_SECONDS` of the sample clips, in one process: the median of three runs each.

`wiener` (session 30, the default) is a textbook single-channel Wiener filter, causal and frame by frame as a stream
would run it: STFT (32 ms sqrt-Hann windows every 8 ms), the noise power per bin tracked as the minimum of the
smoothed power, which it follows down at once and up by at most `RISE_DB_PER_SECOND`, times a bias (minimum
statistics, simplified), the a-priori SNR by the decision-directed rule (Ephraim & Malah 1984) and a gain floor of
`FLOOR_DB`. `finetune` runs `training.finetune` with every clip (original and augmented copy) suppressed after its
channel shift and before the front end; `robustness` runs `training.robustness` with each model's clips suppressed
before the engine (the MFCC floor hears the raw clips). Not in the library or the engine: a probe first, the front end
if it helps.

`rnnoise` (session 33, `--rnnoise`) is a learned suppressor with its weights built in: RNNoise (Valin 2018, xiph's
C library as built into the `pyrnnoise` wheel, loaded by `keras_cpc.rnnoise.library`; the `denoise` extra): 16 kHz
resampled to 48 kHz with soxr, 10 ms frames through one stream state, the output's delay of `RNNOISE_DELAY` samples
taken off, back to 16 kHz.

`webrtc` (session 34, `--webrtc LEVEL`, 0 for its high-pass filter alone) is WebRTC's suppressor as the
`webrtc-noise-gain` wheel runs it, on the raw clip, before the level normalisation, its high-pass filter left in. The
engine's front end (`keras_cpc.suppression`) grew out of it: after the level normalisation (before it again since
session 36), the filter undone.
"""

import ctypes
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soxr

import keras_cpc.features
from keras_cpc.audio import SAMPLE_RATE, audio_files, load_audio
from keras_cpc.rnnoise import LAG as RNNOISE_DELAY, RATE as RNNOISE_RATE, library as rnnoise_library
from keras_cpc.suppression import DELAY as WEBRTC_DELAY, FRAME as WEBRTC_FRAME
from training import finetune, robustness

FFT = 512
HOP = 128
SMOOTHING = 0.8  # of the power per bin, per hop
RISE_DB_PER_SECOND = 5.0
BIAS = 2.0  # the mean noise power over its tracked minimum
DECISION = 0.98  # the decision-directed rule's weight of the last frame's clean estimate
FLOOR_DB = -12.0


def wiener(audio: np.ndarray) -> np.ndarray:
    """`audio` through the Wiener filter, float32 of its length, aligned with the input (a stream gives the same
    samples `FFT - HOP` later: the gains follow the frames forward only)."""
    window = np.sqrt(np.hanning(FFT + 1)[:FFT]).astype(np.float64)
    padded = np.concatenate([np.zeros(FFT - HOP), np.asarray(audio, np.float64), np.zeros(FFT)])
    frames = (len(padded) - FFT) // HOP + 1
    out = np.zeros(len(padded))
    rise = 10 ** (RISE_DB_PER_SECOND * HOP / SAMPLE_RATE / 10)
    floor = 10 ** (FLOOR_DB / 10)
    smoothed = noise = clean_power = None
    for index in range(frames):
        start = index * HOP
        spectrum = np.fft.rfft(padded[start:start + FFT] * window)
        power = np.abs(spectrum) ** 2 + 1e-12
        smoothed = power if smoothed is None else SMOOTHING * smoothed + (1 - SMOOTHING) * power
        noise = smoothed.copy() if noise is None else np.minimum(smoothed, noise * rise)
        noise_power = BIAS * noise
        posterior = power / noise_power
        prior = np.maximum(posterior - 1, 0) if clean_power is None else \
            DECISION * clean_power / noise_power + (1 - DECISION) * np.maximum(posterior - 1, 0)
        gain = np.maximum(prior / (1 + prior), floor)
        clean_power = gain**2 * power
        out[start:start + FFT] += np.fft.irfft(gain * spectrum, FFT) * window
    # sqrt-Hann analysis and synthesis at a quarter-window hop sum to 2: undo it
    return (out[FFT - HOP:FFT - HOP + len(audio)] / 2).astype(np.float32)


def rnnoise(audio: np.ndarray) -> np.ndarray:
    """`audio` through RNNoise, float32 of its length, aligned with the input."""
    library = rnnoise_library()
    frame = library.rnnoise_get_frame_size()
    upsampled = soxr.resample(np.asarray(audio, np.float32), SAMPLE_RATE, RNNOISE_RATE)
    padding = -len(upsampled) % frame + RNNOISE_DELAY + frame
    samples = np.concatenate([upsampled, np.zeros(padding, np.float32)]) * 32768  # RNNoise works on int16's scale
    out = np.zeros_like(samples)
    pointer = ctypes.POINTER(ctypes.c_float)
    state = library.rnnoise_create(None)
    try:
        for start in range(0, len(samples), frame):
            chunk = np.ascontiguousarray(samples[start:start + frame])
            library.rnnoise_process_frame(state, out[start:].ctypes.data_as(pointer), chunk.ctypes.data_as(pointer))
    finally:
        library.rnnoise_destroy(state)
    aligned = out[RNNOISE_DELAY:RNNOISE_DELAY + len(upsampled)] / 32768
    return soxr.resample(aligned, RNNOISE_RATE, SAMPLE_RATE)[:len(audio)].astype(np.float32)


def webrtc(audio: np.ndarray, level: int) -> np.ndarray:
    """`audio` through WebRTC's noise suppressor at `level` (1-4) with its gain control off, float32 of its length,
    aligned with the input."""
    from webrtc_noise_gain import AudioProcessor

    processor = AudioProcessor(0, level)
    padded = np.concatenate([audio, np.zeros(-(len(audio) + WEBRTC_DELAY) % WEBRTC_FRAME + WEBRTC_DELAY, np.float32)])
    samples = np.clip(np.round(padded * 32768), -32768, 32767).astype(np.int16)
    out = b"".join(processor.Process10ms(samples[start:start + WEBRTC_FRAME].tobytes()).audio
                   for start in range(0, len(samples), WEBRTC_FRAME))
    return (np.frombuffer(out, np.int16)[WEBRTC_DELAY:WEBRTC_DELAY + len(audio)] / 32768).astype(np.float32)


suppress = wiener


class SuppressedStream(robustness.StreamPredictor):
    """The engine on suppressed clips, calibrated on the suppressed clips of the speaker."""

    def calibrate(self, clips, utterances) -> None:
        super().calibrate([suppress(clip) for clip in clips], utterances)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return super().__call__(suppress(audio))


COST_SECONDS = 30.0


def cost(model_dir: str) -> None:
    """Prints the suppressor's and the engine's real-time factors on the same audio (one thread each)."""
    from inference import SAMPLES, make_audio, real_time_factor  # benchmarks/, on PYTHONPATH for this command only
    from report import cpu_model

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "audio.wav")
        duration = make_audio(audio_files([SAMPLES]), COST_SECONDS, path, SAMPLE_RATE)
        audio = load_audio(path)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            suppress(audio)
            times.append(time.perf_counter() - start)
        engine = real_time_factor(Path(model_dir), 1, 0.1, path, duration, 3)["rtf"]
    suppressor = float(np.median(times)) / duration
    print(f"{cpu_model()}: {suppress.__name__} RTF {suppressor:.4f}, the engine ({model_dir}, one thread, every 0.1 s) "
          f"RTF {engine:.4f}, ratio {suppressor / engine:.2f}")


def main() -> None:
    global suppress
    if sys.argv[1] == "--rnnoise":
        suppress = rnnoise
        del sys.argv[1]
    elif sys.argv[1] == "--webrtc":
        level = int(sys.argv[2])
        suppress = lambda audio: webrtc(audio, level)  # noqa: E731
        suppress.__name__ = f"webrtc{level}"
        del sys.argv[1:3]
    command, argv = sys.argv[1], sys.argv[2:]
    if command == "finetune":
        frontend = keras_cpc.features.apply_frontend
        keras_cpc.features.apply_frontend = lambda audio, *args, **kwargs: frontend(suppress(audio), *args, **kwargs)
        finetune.main(argv)
    elif command == "robustness":
        robustness.StreamPredictor = SuppressedStream
        robustness.main(argv)
    elif command == "cost":
        cost(*argv)
    else:
        raise SystemExit(f"{sys.argv[0]}: expected finetune, robustness or cost, got {command}")


if __name__ == "__main__":
    main()
