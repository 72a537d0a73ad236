"""Frozen features for the emotion recognizer (MFCC or CPC contexts), cached on disk, and their datasets."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_cpc.audio import load_audio
from keras_cpc.channels import NOISE_SNR_DB, random_shift
from keras_cpc.datasets import EmotionUtterance
from keras_cpc.layers import MFCC, AppendMFCC
from keras_cpc.layers.mfcc import default_band
from keras_cpc.loudness import apply_frontend, frontend_settings, speaker_level, suppressed
from keras_cpc.models import CPC, load_model_file
from keras_cpc.speaker_features import frame_statistics
from keras_cpc.speech_frames import speech_frame_settings, speech_mask

Extractor = Callable[[np.ndarray], np.ndarray]
Transform = Callable[[np.ndarray, EmotionUtterance], np.ndarray]  # (waveform, its utterance) -> waveform
# Version of the code that computes features (the MFCC layer, CPC's contexts): bump it when that
# code changes, so that features cached by the old code are not read. Keys name the settings.
FEATURES_VERSION = 1


def file_digest(path: str | Path, length: int = 16) -> str:
    """Hex digest of a file's bytes (identifies a model, so features follow its weights)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:length]


def mfcc_extractor() -> tuple[str, Extractor, int, int]:
    """Key, function waveform -> `(frames, 40)` MFCCs, the samples a frame hears (the fewest it takes) and the
    samples between frames."""
    layer = MFCC()
    run = tf.function(layer, input_signature=[tf.TensorSpec([1, None], tf.float32)])
    key = f"mfcc{layer.coefficients}-{layer.window}-{layer.hop}-{layer.sample_rate}"  # other settings, other cache
    return key, lambda audio: run(audio[None])[0].numpy(), layer.window, layer.hop


def load_cpc(path: str | Path) -> CPC:
    """The CPC model saved at `path` (`training.pretrain`'s `cpc.keras`); anything else is a `ModelFileError`."""
    return load_model_file(path, CPC)


def cpc_extractor(model_path: str | Path, append: AppendMFCC | None = None) -> tuple[str, Extractor, int, int]:
    """Key, function waveform -> `(frames, 256 [+ appended])` CPC contexts of a saved model (with the MFCCs that
    `append` appends to each, if given), the samples a frame hears (the fewest it takes) and the samples between
    frames."""
    model = load_cpc(model_path)
    if append:
        append.check_alignment(model.encoder.receptive_field, model.encoder.hop_length)

    def contexts(audio):
        contexts = model.context(audio)
        return append(contexts, audio) if append else contexts

    run = tf.function(contexts, input_signature=[tf.TensorSpec([1, None], tf.float32)])
    band = "" if not append or append.mfcc.band == default_band(append.mfcc.sample_rate) else "-{:g}-{:g}".format(*append.mfcc.band)
    pitch = "" if not append or not append.pitch else "+pitch" + "-".join(
        f"{append.pitch.get_config()[name]:g}" for name in ("low", "high", "bottom", "top", "octave_cost", "reference"))
    appended = f"+mfcc{append.coefficients}{band}{pitch}" if append else ""
    return f"cpc-{file_digest(model_path)}" + appended, \
        lambda audio: run(audio[None])[0].numpy(), model.encoder.receptive_field, model.encoder.hop_length


def frontend_key(frontend: dict | None) -> str:
    """The part of a cache key that names the audio front end (empty for raw audio)."""
    if not frontend:
        return ""
    return "-" + hashlib.sha256(json.dumps(frontend, sort_keys=True).encode()).hexdigest()[:8]


def _entropy(text: str) -> int:
    """A generator seed drawn from `text` (the same on every machine and run, unlike `hash`)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)


def channel_shift(seed: int, copy: int, babble: Sequence[str] = (), utterance_gain_db: float = 0.0,
                  snr_db: tuple[float, float] = NOISE_SNR_DB, narrowband: float = 0.0,
                  extra_babble: float = 0.0) -> tuple[str, Transform]:
    """Key and transform of one augmented copy of a corpus: each speaker's files through one channel of
    `keras_cpc.channels.random_shift` (a speaker is recorded in one place: the same gain, room, noise and
    filter for all their files), drawn from a generator seeded by `seed`, `copy` and the speaker, with
    babble from the `babble` files. With `utterance_gain_db`, each file then gets its own gain, uniform in
    +-`utterance_gain_db` dB and seeded by `seed`, `copy` and its path: a recorder that levels each file
    (automatic gain control, peak normalisation) breaks the tie between loudness and emotion within a speaker.
    `snr_db` is the range of the noise's SNR, `narrowband` the probability of a narrowband voice link and
    `extra_babble` that of babble added after the channel's noise, before its filter and gain (`random_shift`'s)."""
    sources = [load_audio(path) for path in babble]
    digest = hashlib.sha256("\n".join(babble).encode()).hexdigest()[:8]

    def shift(audio: np.ndarray, utterance: EmotionUtterance) -> np.ndarray:
        audio = random_shift(audio, np.random.default_rng([seed, copy, _entropy(utterance.speaker)]), sources,
                             snr_db=snr_db, narrowband=narrowband, extra_babble=extra_babble)
        if not utterance_gain_db:
            return audio
        gain = np.random.default_rng([seed, copy, _entropy(utterance.path)]).uniform(-1, 1) * utterance_gain_db
        return (audio * 10 ** (gain / 20)).astype(np.float32)

    snr = "" if tuple(snr_db) == NOISE_SNR_DB else f"-snr{snr_db[0]:g}-{snr_db[1]:g}"
    options = (f"-gain{utterance_gain_db:g}" if utterance_gain_db else "") + snr + (
        f"-narrow{narrowband:g}" if narrowband else "") + (f"-babble{extra_babble:g}" if extra_babble else "")
    return f"shift{seed}-{copy}-{digest}" + options, shift


def speaker_levels(utterances: Sequence[EmotionUtterance], audio: Callable[[EmotionUtterance], np.ndarray],
                   frontend: dict | None, cache: Path | None = None) -> dict[str, float | None]:
    """Each speaker's `keras_cpc.loudness.speaker_level` over their utterances' `audio` (behind the front end's
    noise suppression, if any), for a front end calibrated per speaker (`{}` otherwise). With `cache`, each speaker's
    is kept there under a digest of their files' cache names (a changed or another set of files is another name), so
    that a run whose features are all cached names them without reading, shifting and suppressing every file again."""
    settings = frontend_settings(frontend)
    if settings is None or not settings.per_speaker:
        return {}
    speakers: dict[str, list[EmotionUtterance]] = {}
    for utterance in utterances:
        speakers.setdefault(utterance.speaker, []).append(utterance)
    levels = {}
    for speaker, theirs in speakers.items():
        record = _level_record(cache, theirs) if cache is not None else None
        if record is not None and record.exists():
            levels[speaker] = json.loads(record.read_text())["level"]
            continue
        levels[speaker] = speaker_level((suppressed(audio(u), frontend) for u in theirs), settings)
        if record is not None:
            handle, partial = tempfile.mkstemp(suffix=".partial.json", dir=cache)
            with os.fdopen(handle, "w") as file:
                json.dump({"speaker": speaker, "level": levels[speaker]}, file)
            os.replace(partial, record)
    return levels


def cache_features(
    utterances: Sequence[EmotionUtterance], extractor: tuple[str, Extractor, int, int], cache_dir: str | Path,
    frontend: dict | None = None, transform: tuple[str, Transform] | None = None,
) -> list[str]:
    """Paths of `.npy` features (float16) of every utterance, computing only the missing ones; the
    audio goes through `transform` (a key and a function, e.g. `channel_shift`), then `frontend`
    (`keras_cpc.loudness.apply_frontend`, calibrated with the `speaker_levels` of `utterances`, whose
    speakers must all be there; kept in the cache too). A front end with speech frames
    keeps the frames that hold speech (`keras_cpc.speech_frames`: as the engine decides them), or every frame of a
    recording without any.

    Files are written atomically under `cache_dir/<key>[-<frontend>][-<transform>]-v<FEATURES_VERSION>/`,
    named by a digest of the audio file's path, size and modification time (a changed file is
    extracted again) and its speaker's level, so an interrupted run keeps what it computed and runs and
    folds share the cache, also when several of them fill it at once (each writes its own temporary file).
    """
    key, extract, min_samples, hop = extractor
    speech = speech_frame_settings(frontend)

    def audio(utterance: EmotionUtterance) -> np.ndarray:
        waveform = load_audio(utterance.path, min_samples=min_samples)
        return transform[1](waveform, utterance) if transform else waveform

    shift = f"-{transform[0]}" if transform else ""
    folder = Path(cache_dir) / f"{key}{frontend_key(frontend)}{shift}-v{FEATURES_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    levels = speaker_levels(utterances, audio, frontend, folder)
    targets = [folder / f"{_cache_name(u.path)}{_level_name(levels.get(u.speaker))}.npy" for u in utterances]
    missing = [(u, t) for u, t in zip(utterances, targets) if not t.exists()]
    if missing:
        progress = keras.utils.Progbar(len(missing), unit_name="file")
        for utterance, target in missing:
            waveform = apply_frontend(audio(utterance), frontend, calibration=levels.get(utterance.speaker))
            features = extract(waveform).astype(np.float16)
            if speech is not None:
                mask = speech_mask(waveform, len(features), min_samples, hop, speech)
                features = features[mask] if mask.any() else features
            handle, partial = tempfile.mkstemp(suffix=".partial.npy", dir=folder)
            with os.fdopen(handle, "wb") as file:
                np.save(file, features)
            os.replace(partial, target)
            progress.add(1)
    return [str(t) for t in targets]


def _level_record(cache: Path, utterances: Sequence[EmotionUtterance]) -> Path:
    """Where a speaker's level is kept in `cache`: named by a digest of their files' cache names."""
    names = "\n".join(sorted(_cache_name(u.path) for u in utterances))
    return cache / f"level-{hashlib.sha256(names.encode()).hexdigest()[:24]}.json"


def _level_name(level: float | None) -> str:
    """The part of a cached file's name that names its speaker's level (none without one)."""
    return "" if level is None else f"@{level:+.2f}"


def _cache_name(path: str) -> str:
    """A digest of an audio file's absolute path, size and modification time."""
    stat = os.stat(path)
    return hashlib.sha256(f"{os.path.abspath(path)}\n{stat.st_size}\n{stat.st_mtime_ns}".encode()).hexdigest()[:24]


def feature_statistics(files: Sequence[str], max_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and variance over the frames of the cached feature files (each cut to
    `max_frames`, as `feature_dataset` cuts them; `keras_cpc.speaker_features.frame_statistics`)."""
    statistics = frame_statistics(np.load(path)[:max_frames] for path in files)
    if statistics is None:
        first = f", the first {files[0]}" if files else ""
        raise ValueError(f"no frames to compute feature statistics from in {len(files)} feature files{first}")
    return statistics


def padded_dataset(
    files: Sequence[str] | Sequence[Sequence[str]],
    targets: np.ndarray,
    load: Callable[[str], np.ndarray],
    item_shape: tuple[int | None, ...],
    key: str,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of `({key: padded (batch, time, ...), "lengths": (batch,)}, targets)` from files.

    `load(path)` gives one item of `item_shape` (time first); items are read in parallel as
    they are needed, padded with zeros at the end to the longest of their batch. `files` may
    give each item as a row of versions (e.g. the original and augmented copies): every pass
    reads one of them, drawn at random from `seed` anew each pass, with its own target where
    `targets` has a row per version (`(items, versions, ...)`), else the item's. A shuffled
    (training) stream drops a last batch of a single item: a CCC over one value has no
    variance, so no gradient, and the optimizer would step on nothing.
    """

    def read(path, target):
        item = tf.numpy_function(lambda p: load(p.decode()).astype(np.float32), [path], tf.float32)
        item.set_shape(item_shape)
        return {key: item, "lengths": tf.shape(item)[0]}, target

    paths = np.array(files, dtype=str)
    if np.ndim(targets) == 3 and np.shape(targets)[:2] != paths.shape:
        raise ValueError(f"targets per version of shape {np.shape(targets)} for {paths.shape} (items, versions) files")
    dataset = tf.data.Dataset.from_tensor_slices((paths, targets))
    if paths.ndim == 2:
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        per_version = np.ndim(targets) == 3
        dataset = tf.data.Dataset.zip(dataset, draws).map(
            lambda item, draw: (item[0][draw % paths.shape[1]],
                                item[1][draw % paths.shape[1]] if per_version else item[1]))
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        if len(files) > batch_size and len(files) % batch_size == 1:
            dataset = dataset.take(len(files) - 1)  # another item each epoch
    dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)


# np.load parses each file's header with ast.literal_eval, which CPython 3.11 does not make safe across threads: the
# parallel map's loads, run at once, failed now and then with "AST constructor recursion depth mismatch"
# (python/cpython#106905). They take turns.
_LOADING = threading.Lock()


def feature_dataset(files: Sequence[str] | Sequence[Sequence[str]], targets: np.ndarray, batch_size: int,
                    max_frames: int | None = None, shuffle: bool = False, seed: int = 0,
                    transforms: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None) -> tf.data.Dataset:
    """`padded_dataset` of cached `.npy` features (at most `max_frames`, from the start; through
    `transforms[path]` where given) under the key `features`. The cut bounds the attention's
    `(time, time)` memory for long utterances."""
    def load(path: str) -> np.ndarray:
        with _LOADING:
            frames = np.load(path)[:max_frames]
        return transforms[path](frames) if transforms and path in transforms else frames

    dim = np.load(np.ravel(files)[0], mmap_mode="r").shape[1]
    return padded_dataset(files, targets, load, (None, dim), "features", batch_size, shuffle, seed)


def audio_dataset(files: Sequence[str], targets: np.ndarray, batch_size: int, max_samples: int,
                  min_samples: int, shuffle: bool = False, seed: int = 0, frontend: dict | None = None,
                  calibrations: Mapping[str, float | None] | None = None) -> tf.data.Dataset:
    """`padded_dataset` of waveforms (through `frontend`, calibrated with `calibrations[path]` where given,
    then at most `max_samples`, from the start) under the key `audio`.

    Every file is loaded once first (about 2 ms a clip), so that one that cannot be used stops
    here with an `AudioError` naming it, not as a `tf.data` error in the middle of an epoch.
    """
    def load(path: str) -> np.ndarray:
        waveform = load_audio(path, min_samples=min_samples)
        return apply_frontend(waveform, frontend, calibration=(calibrations or {}).get(path))[:max_samples]

    for path in files:
        load(path)
    return padded_dataset(files, targets, load, (None,), "audio", batch_size, shuffle, seed)
