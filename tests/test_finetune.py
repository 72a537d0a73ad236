"""`training.finetune` and `training.evaluate` on a miniature RAVDESS: the four systems, no leakage."""

import csv
import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path

import keras
from keras.src.trainers.trainer import Trainer
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from helpers import log_column
from keras_cpc.audio import AudioError, audio_files, load_audio
from keras_cpc.channels import BABBLE_SOURCES, protocol_babble_files
from keras_cpc.runs import RunFolderError, exclusive_run, resumed_seed
from keras_cpc import features as features_module
from keras_cpc.datasets import file_list, labels
from keras_cpc.datasets.protocol import SplitError, read_corpus, scores_by_sentence, split
from keras_cpc.loudness import LevelSettings, frontend_config, normalize_level, speaker_level, speech_level
from keras_cpc.features import (
    audio_dataset,
    cache_features,
    channel_shift,
    cpc_extractor,
    feature_dataset,
    feature_statistics,
    mfcc_extractor,
)
from keras_cpc.metrics.ccc import DIMENSIONS
from keras_cpc.layers import MFCC, AttentiveStatsPooling, Pitch
from keras_cpc.models import CPC
from keras_cpc.optimizers import AdamL2
from keras_cpc.speech_frames import SpeechFrameSettings, speech_mask
from training import evaluate, finetune
from training.config import FinetuneConfig, PretrainConfig, SettingError

REPO = Path(__file__).resolve().parents[1]
EMOTIONS = ("01", "03", "04", "05")  # neutral, happy, sad, angry


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """4 actors x 4 emotions x 2 intensities of 0.6 s noise, in RAVDESS's layout and names."""
    root = tmp_path_factory.mktemp("ravdess")
    rng = np.random.default_rng(0)
    for actor in range(1, 5):
        for emotion in EMOTIONS:
            for intensity in ("01", "02")[: 1 if emotion == "01" else 2]:
                path = root / f"Actor_{actor:02d}" / f"03-01-{emotion}-{intensity}-01-01-{actor:02d}.wav"
                path.parent.mkdir(exist_ok=True)
                loudness = 0.05 * (1 + EMOTIONS.index(emotion))
                soundfile.write(path, (loudness * rng.standard_normal(9600)).astype(np.float32), 16000)
    return root


def args_for(corpus: Path, tmp_path: Path, system: str, *extra: str) -> list[str]:
    return ["--corpus", "ravdess", "--data", str(corpus), "--system", system, "--folds", "4",
            "--out", str(tmp_path / system), "--cache", str(tmp_path / "cache"), "--epochs", "2",
            "--batch-size", "4", "--validation-fraction", "0.34", "--verbose", "0", *extra]


def parsed(argv: list[str]) -> FinetuneConfig:
    return FinetuneConfig.from_args(finetune.build_parser().parse_args(argv))


def config_for(corpus: Path, tmp_path: Path, system: str, *extra: str) -> FinetuneConfig:
    return parsed(args_for(corpus, tmp_path, system, *extra))


def test_folds_never_share_a_speaker(corpus):
    utterances = read_corpus("ravdess", str(corpus))
    for fold in range(4):
        train, validation, test = split("ravdess", utterances, fold, 4, 0.34, seed=0)
        speakers = [{u.speaker for u in part} for part in (train, validation, test)]
        assert all(speakers) and not (speakers[0] & speakers[2] or speakers[1] & speakers[2]
                                      or speakers[0] & speakers[1])
        assert len(train) + len(validation) + len(test) == len(utterances)
    for fold in (-1, 4):
        with pytest.raises(SplitError, match=f"fold {fold} is not one of the 4 folds"):
            split("ravdess", utterances, fold, 4, 0.34, seed=0)


@pytest.mark.parametrize("system", ["mfcc", "e2e"])
def test_a_system_trains_and_scores_its_test_fold(corpus, tmp_path, system, monkeypatch):
    fit, jit = keras.Model.fit, []
    monkeypatch.setattr(keras.Model, "fit", lambda model, *args, **kwargs: jit.append(model.jit_compile)
                        or fit(model, *args, **kwargs))
    monkeypatch.setattr(Trainer, "_resolve_auto_jit_compile", lambda model: True)  # Keras's "auto" on a GPU
    args = config_for(corpus, tmp_path, system)
    results = finetune.finetune(args)
    assert jit == [False]  # XLA would compile once per padded batch length
    assert set(results) == {"ccc_activation", "ccc_valence", "ccc_dominance", "seconds", "settings"}
    assert results["settings"]["epochs"] == 2 and results["settings"]["max_seconds"] == 10
    assert results["settings"]["optimizer"] == "adam_l2"  # a record of Keras's decoupled decay lacks it: not matched
    out = tmp_path / system
    with open(out / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 and len({r["speaker"] for r in rows}) == 1  # one actor's clips
    train, _, test = split("ravdess", read_corpus("ravdess", str(corpus)), 0, 4, 0.34, 0)
    assert [r["path"] for r in rows] == [u.path for u in test]  # the test fold is scored
    truth = np.array([[float(r[d]) for d in DIMENSIONS] for r in rows])
    np.testing.assert_array_equal(truth, [[u.activation, u.valence, u.dominance] for u in test])
    predicted = np.array([[float(r[f"predicted_{d}"]) for d in DIMENSIONS] for r in rows])
    covariance = ((truth - truth.mean(0)) * (predicted - predicted.mean(0))).mean(0)
    expected = 2 * covariance / (truth.var(0) + predicted.var(0) + (truth.mean(0) - predicted.mean(0)) ** 2)
    np.testing.assert_allclose([results[f"ccc_{d}"] for d in DIMENSIONS], expected, atol=1e-4)
    if system == "mfcc":  # standardised with the training actors' statistics only
        mean, variance = feature_statistics(cache_features(train, mfcc_extractor(), tmp_path / "cache",
                                                           finetune.frontend(args)))
        standardization = keras.saving.load_model(out / "recognizer.keras").standardization
        np.testing.assert_allclose(standardization.mean.numpy(), mean, rtol=1e-5)
        np.testing.assert_allclose(standardization.variance.numpy(), variance, rtol=1e-5)
    for name in ("recognizer.keras", "log.csv", "curves.png", "scatter.png"):
        assert (out / name).stat().st_size > 0
    recognizer = keras.saving.load_model(out / "recognizer.keras")
    head = recognizer.recognizer if system == "e2e" else recognizer
    assert head.bounded and head.frontend == {"level": vars(LevelSettings(per_speaker=True))}  # what export records
    optimizer = recognizer.optimizer
    assert isinstance(optimizer, AdamL2) and optimizer.l2 == 1e-5  # the paper's weight decay, in the gradients
    rerun = finetune.finetune(config_for(corpus, tmp_path, system))
    assert rerun == results  # a finished run is only rescored, and keeps the time it took to train


@pytest.mark.slow
def test_a_resumed_run_counts_the_time_of_its_earlier_epochs(corpus, tmp_path, monkeypatch):
    seeds, dropout = [], []  # of the data order, and dropout's random state, of each invocation
    datasets, fit = finetune.datasets, keras.Model.fit
    monkeypatch.setattr(finetune, "datasets", lambda *args: seeds.append(args[3]) or datasets(*args))
    monkeypatch.setattr(keras.Model, "fit", lambda model, *args, **kwargs: dropout.append(
        [layer.seed_generator.state.numpy().tolist() for layer in model._flatten_layers()
         if isinstance(layer, keras.layers.Dropout)]) or fit(model, *args, **kwargs))

    def run(epochs: int, *extra: str) -> dict:
        return finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--epochs", str(epochs), *extra))

    first = run(1)
    out = tmp_path / "mfcc"
    (out / "results.json").unlink()  # as if the run had been stopped after epoch 1 of 3
    with pytest.raises(ValueError, match=r"other settings: learning_rate 0.0002 \(now 0.001\)"):
        run(3, "--learning-rate", "1e-3")  # not resumed with another run's settings
    (earlier,) = log_column(out / "log.csv", "epoch_seconds")
    assert 0 < earlier < first["seconds"]
    resumed = run(3)
    seconds = log_column(out / "log.csv", "epoch_seconds")
    assert log_column(out / "log.csv", "epoch", int) == [0, 1, 2] and all(s > 0 for s in seconds)
    assert resumed["seconds"] > sum(seconds)  # the epochs of both invocations, and the scoring
    longer = run(4)  # a finished run given one more epoch: its time is counted again, that epoch included
    assert log_column(out / "log.csv", "epoch", int) == [0, 1, 2, 3]
    assert longer["seconds"] != resumed["seconds"]
    assert longer["seconds"] > sum(log_column(out / "log.csv", "epoch_seconds"))
    with pytest.raises(ValueError, match="holds a run of 4 epochs, more than the 2 asked for"):
        run(2)  # would test the best of 4 epochs and record 2
    assert seeds == [0, resumed_seed(0, 1), resumed_seed(0, 3)] and len(set(seeds)) == 3  # run 0, fold 0
    assert len(dropout) == 3 and len(dropout[0]) == 2  # the head's two Dropout layers
    assert dropout[0] != dropout[1] != dropout[2] != dropout[0]  # a resumed run does not replay the first masks
    # The tested model is the epoch of the best validation CCC in the log.
    args = config_for(corpus, tmp_path, "mfcc")
    sets = split("ravdess", read_corpus("ravdess", str(corpus)), 0, 4, 0.34, 0)
    validation = datasets(args, "mfcc", sets, 0)[0][1]
    best = keras.saving.load_model(out / "recognizer.keras").evaluate(validation, verbose=0, return_dict=True)
    assert best["ccc_mean"] == pytest.approx(max(log_column(out / "log.csv", "val_ccc_mean")), abs=1e-5)
    # A run given more epochs drops its record first: a stop must not leave it beside a newer best model.
    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "fit", stopped)
    with pytest.raises(KeyboardInterrupt):
        run(5)
    assert not (out / "results.json").exists() and not (out / "predictions.csv").exists()


def test_one_process_at_a_time_finetunes_into_an_out_folder(corpus, tmp_path):
    with exclusive_run(tmp_path / "mfcc"):
        with pytest.raises(RunFolderError, match=f"{tmp_path / 'mfcc'}: another process is training into this folder"):
            finetune.finetune(config_for(corpus, tmp_path, "mfcc"))


def test_the_feature_cache_is_not_blocked_by_another_writers_temporary_file(corpus, tmp_path):
    utterances = read_corpus("ravdess", str(corpus))[:2]
    extractor = ("frames", lambda audio: audio[: len(audio) // 160 * 160].reshape(-1, 160), 160, 160)
    first = cache_features(utterances, extractor, tmp_path)[0]
    Path(first).unlink()
    Path(first).with_suffix(".partial.npy").mkdir()  # the temporary name all writers used to share
    assert cache_features(utterances, extractor, tmp_path)[0] == first
    expected = extractor[1](load_audio(utterances[0].path)).astype(np.float16)
    np.testing.assert_array_equal(np.load(first), expected)


def test_speaker_levels_are_cached_so_a_cached_set_reads_no_audio(corpus, tmp_path):
    """A per-speaker front end names each cached file by its speaker's level: measured once (of the shifted audio),
    then read from the cache, so a run whose features are all cached shifts no file; another set of a speaker's
    files is measured anew."""
    utterances = read_corpus("ravdess", str(corpus))[:6]
    shifted = []

    def louder(audio, utterance):
        shifted.append(utterance.path)
        return 3 * audio

    frontend, extractor = frontend_config(LevelSettings(per_speaker=True)), mfcc_extractor()
    first = cache_features(utterances, extractor, tmp_path, frontend, ("louder", louder))
    assert sorted(shifted) == sorted(2 * [u.path for u in utterances])  # the levels', then the features'
    speaker = utterances[0].speaker
    theirs = [3 * load_audio(u.path) for u in utterances if u.speaker == speaker]
    assert f"@{speaker_level(theirs, LevelSettings(per_speaker=True)):+.2f}" in first[0]
    shifted.clear()
    assert cache_features(utterances, extractor, tmp_path, frontend, ("louder", louder)) == first
    assert shifted == []
    cache_features(utterances[:1], extractor, tmp_path, frontend, ("louder", louder))
    assert set(shifted) == {utterances[0].path}  # the level of this one file, measured anew


def test_a_changed_audio_file_is_extracted_again(tmp_path):
    path = tmp_path / "Actor_01" / "03-01-01-01-01-01-01.wav"
    path.parent.mkdir()
    soundfile.write(path, np.full(1600, 0.1, np.float32), 16000)
    utterances = read_corpus("ravdess", str(tmp_path))
    extractor = ("mean", lambda audio: audio.mean(keepdims=True)[None], 160, 160)
    cache = tmp_path / "cache"
    assert np.load(cache_features(utterances, extractor, cache)[0]) == np.float16(0.1)
    soundfile.write(path, np.full(3200, 0.5, np.float32), 16000)  # the same path, other audio
    assert np.load(cache_features(utterances, extractor, cache)[0]) == np.float16(0.5)


def test_features_of_another_code_version_are_not_read(corpus, tmp_path, monkeypatch):
    utterances = read_corpus("ravdess", str(corpus))[:1]
    cache = tmp_path / "cache"
    (old,) = cache_features(utterances, ("mean", lambda audio: audio.mean(keepdims=True)[None], 160, 160), cache)
    monkeypatch.setattr(features_module, "FEATURES_VERSION", features_module.FEATURES_VERSION + 1)
    (new,) = cache_features(utterances, ("mean", lambda audio: 2 * audio.mean(keepdims=True)[None], 160, 160), cache)
    assert Path(new).parent != Path(old).parent and np.load(new) == 2 * np.load(old) != 0


def test_an_unusable_clip_stops_the_audio_pipeline_before_training_naming_it(corpus, tmp_path):
    clips = sorted(str(p) for p in corpus.rglob("*.wav"))[:3]
    empty = tmp_path / "Actor_09" / "03-01-01-01-01-01-09.wav"
    empty.parent.mkdir()
    empty.touch()
    with pytest.raises(AudioError, match=f"{empty}: file is empty"):
        audio_dataset([*clips, str(empty)], np.zeros((4, 3), np.float32), 2, 16000, 400)
    batch, _ = next(iter(audio_dataset(clips, np.zeros((3, 3), np.float32), 2, 16000, 400)))
    assert batch["audio"].shape[0] == 2


def test_a_training_stream_drops_a_lone_last_item_another_each_epoch(tmp_path):
    files = []
    for i in range(5):
        files.append(str(tmp_path / f"{i}.npy"))
        np.save(files[-1], np.full((2 + i, 3), i, np.float32))
    targets = np.arange(15, dtype=np.float32).reshape(5, 3)

    def epochs(dataset, count=8):
        return [[[int(f[0, 0]) for f in x["features"].numpy()] for x, _ in dataset] for _ in range(count)]

    shuffled = epochs(feature_dataset(files, targets, 4, shuffle=True, seed=1))
    assert all(len(e) == 1 and len(e[0]) == 4 for e in shuffled)  # 5 = 4 + 1: the 1 has no CCC to learn
    assert len({tuple(sorted(e[0])) for e in shuffled}) > 1
    assert epochs(feature_dataset(files, targets, 4), 1) == [[[0, 1, 2, 3], [4]]]  # scored: every item
    assert [len(e) for e in epochs(feature_dataset(files, targets, 3, shuffle=True), 1)[0]] == [3, 2]


def test_a_training_stream_reads_one_version_of_each_item_drawn_anew_each_epoch(tmp_path):
    files = []
    for i in range(6):
        files.append([])
        for version in range(3):
            files[-1].append(str(tmp_path / f"{i}-{version}.npy"))
            np.save(files[-1][-1], np.full((2, 3), 10 * i + version, np.float32))
    targets = np.arange(18, dtype=np.float32).reshape(6, 3)

    def epochs(seed, count=6):
        dataset = feature_dataset(files, targets, 6, shuffle=True, seed=seed)
        return [sorted(int(f[0, 0]) for x, _ in dataset for f in x["features"].numpy()) for _ in range(count)]

    drawn = epochs(seed=1)
    assert all([value // 10 for value in epoch] == list(range(6)) for epoch in drawn)  # every item once
    assert {value % 10 for epoch in drawn for value in epoch} == {0, 1, 2} and len(set(map(tuple, drawn))) > 1
    assert epochs(seed=1) == drawn and epochs(seed=2) != drawn
    per_version = np.array([[[10 * i + version] for version in range(3)] for i in range(6)], np.float32)
    dataset = feature_dataset(files, per_version, 4, shuffle=True, seed=1)
    pairs = [(f[0, 0], t[0]) for _ in range(3) for x, y in dataset for f, t in zip(x["features"].numpy(), y.numpy())]
    assert len({value for value, _ in pairs}) > 6 and all(value == target for value, target in pairs)
    with pytest.raises(ValueError, match=r"targets per version of shape \(6, 2, 1\) for \(6, 3\)"):
        feature_dataset(files, per_version[:, :2], 4)


def test_augmented_copies_are_seeded_by_run_copy_and_file(corpus, tmp_path):
    utterances = read_corpus("ravdess", str(corpus))[:4]
    babble = [u.path for u in utterances]

    def copy(seed, number, cache, subset=utterances):
        return [np.load(f) for f in cache_features(subset, mfcc_extractor(), tmp_path / cache, None,
                                                   channel_shift(seed, number, babble))]

    first = copy(0, 0, "a")
    np.testing.assert_array_equal(np.stack(copy(0, 0, "b")), np.stack(first))  # recomputed: the same
    assert copy(0, 0, "c", utterances[2:])[0].tolist() == first[2].tolist()  # whatever else is cached
    clean = [np.load(f) for f in cache_features(utterances, mfcc_extractor(), tmp_path / "a")]
    for other in (copy(0, 1, "a"), copy(1, 0, "a"), clean):
        assert all(np.abs(o - f).max() > 0.1 for o, f in zip(other, first))


def test_utterance_gain_scales_each_file_of_a_copy_by_its_own_seeded_gain(corpus):
    utterances = read_corpus("ravdess", str(corpus))[:6]
    babble = [u.path for u in utterances]
    (key, plain), (gain_key, gained) = channel_shift(0, 1, babble), channel_shift(0, 1, babble, 10.0)
    assert gain_key == key + "-gain10"
    gains = []
    for utterance in utterances:
        audio = load_audio(utterance.path)
        reference, shifted = plain(audio, utterance), gained(audio, utterance)
        np.testing.assert_array_equal(gained(audio, utterance), shifted)  # seeded
        gains.append(20 * np.log10(np.sum(shifted * reference) / np.sum(reference**2)))  # least-squares scale
        np.testing.assert_allclose(shifted, reference * 10 ** (gains[-1] / 20), rtol=1e-5, atol=1e-7)
    assert all(abs(g) <= 10 for g in gains) and np.ptp(gains) > 3  # its own gain per file, same speaker or not


def test_augment_snr_sets_the_noise_range_of_the_copies_and_is_recorded(corpus, tmp_path):
    utterances = read_corpus("ravdess", str(corpus))[:6]
    babble = [u.path for u in utterances]
    (key, plain), (snr_key, harder) = channel_shift(0, 1, babble), channel_shift(0, 1, babble, snr_db=(0, 20))
    assert snr_key == key + "-snr0-20" and channel_shift(0, 1, babble, snr_db=(5.0, 30.0))[0] == key
    audio = load_audio(utterances[0].path)
    assert not np.array_equal(plain(audio, utterances[0]), harder(audio, utterances[0]))
    args = config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--augment-snr", "0", "20")
    assert args.settings()["augment_snr"] == [0, 20] and "augment_snr" not in config_for(corpus, tmp_path,
                                                                                            "mfcc").settings()
    finetune.finetune(args)
    assert len(list((tmp_path / "cache").glob("mfcc*-shift0-*-snr0-20-*"))) == 1
    with pytest.raises(SettingError, match="--augment-snr .* needs --augment"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--augment-snr", "0", "20"))
    with pytest.raises(SettingError, match="--augment-snr 20 0: LOW is above HIGH"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--augment-snr", "20", "0"))
    with pytest.raises(SettingError, match="--augment-snr 0 inf: not finite"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--augment-snr", "0", "inf"))
    default = config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--augment-snr", "5", "30")
    assert default.settings() == config_for(corpus, tmp_path, "mfcc", "--augment", "1").settings()


def test_augment_narrowband_draws_narrowband_channels_and_is_recorded(corpus, tmp_path):
    utterances = read_corpus("ravdess", str(corpus))[:6]
    babble = [u.path for u in utterances]
    (key, plain), (narrow_key, narrow) = channel_shift(0, 1, babble), channel_shift(0, 1, babble, narrowband=1.0)
    assert narrow_key == key + "-narrow1" and channel_shift(0, 1, babble, narrowband=0.0)[0] == key
    audio = load_audio(utterances[0].path)
    spectrum = np.abs(np.fft.rfft(narrow(audio, utterances[0]))) ** 2
    assert spectrum[np.fft.rfftfreq(len(audio), 1 / 16000) > 4000].sum() < 1e-4 * spectrum.sum()
    assert not np.array_equal(plain(audio, utterances[0]), narrow(audio, utterances[0]))
    check_copy_option(corpus, tmp_path, "--augment-narrowband", "0.2")


def check_copy_option(corpus, tmp_path, option: str, value: str, recorded: tuple[str, object] | None = None) -> None:
    """An option of the augmented copies is recorded when given (by default as its setting, the number `value`;
    else as `recorded`'s setting and value), and without --augment is an error before anything is written."""
    setting, expected = recorded or (option[2:].replace("-", "_"), float(value))
    settings = config_for(corpus, tmp_path, "mfcc", "--augment", "1", option, value).settings()
    assert settings[setting] == expected
    assert setting not in config_for(corpus, tmp_path, "mfcc", "--augment", "1").settings()
    with pytest.raises(SettingError, match=f"{option} .* needs --augment"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", option, value))
    assert not (tmp_path / "mfcc").exists()


def copies_drawn(monkeypatch, config: FinetuneConfig) -> tuple[tuple, dict]:
    """The arguments of the first `channel_shift` that finetuning with `config` draws its augmented copies from (the
    run goes no further)."""
    class Drawn(Exception):
        """The copies' channel, drawn."""

    def drawn(*args, **kwargs):
        raise Drawn(args, kwargs)

    monkeypatch.setattr(finetune, "channel_shift", drawn)
    with pytest.raises(Drawn) as raised:
        finetune.finetune(config)
    return raised.value.args


def test_augment_babble_adds_babble_to_the_channels_and_is_recorded(corpus, tmp_path, monkeypatch):
    utterances = read_corpus("ravdess", str(corpus))[:6]
    babble = [u.path for u in utterances]
    (key, plain), (babble_key, babbled) = channel_shift(0, 1, babble), channel_shift(0, 1, babble, extra_babble=1.0)
    assert babble_key == key + "-babble1" and channel_shift(0, 1, babble, extra_babble=0.0)[0] == key
    audio = load_audio(utterances[0].path)
    assert not np.array_equal(plain(audio, utterances[0]), babbled(audio, utterances[0]))
    check_copy_option(corpus, tmp_path, "--augment-babble", "0.5")

    args, kwargs = copies_drawn(monkeypatch, config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--augment-babble",
                                                        "0.5"))
    assert channel_shift(*args, **kwargs)[0].endswith("-babble0.5")  # the option reaches the copies training caches


def test_augment_babble_from_a_folder_takes_its_files_after_the_protocols(corpus, tmp_path, monkeypatch):
    others = audio_files([corpus])[BABBLE_SOURCES:]  # 28 files: the protocol's first 20, augmentation's the other 8
    digest = hashlib.sha256("".join(features_module.file_digest(path) for path in others).encode()).hexdigest()[:16]
    check_copy_option(corpus, tmp_path, "--augment-babble-from", str(corpus), ("augment_babble_sha256", digest))
    given = config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--augment-babble-from", str(corpus)).settings()
    assert "augment_babble_from" not in given and given == config_for(  # what the files are, not where
        corpus, tmp_path, "mfcc", "--augment", "1", "--augment-babble-from", os.path.relpath(corpus)).settings()
    (_, _, babble), _ = copies_drawn(monkeypatch, config_for(corpus, tmp_path, "mfcc", "--augment", "1",
                                                              "--augment-babble-from", str(corpus)))
    assert babble == [str(path) for path in others]
    assert set(babble).isdisjoint(protocol_babble_files(corpus))  # the protocol's babble takes the rest
    assert len(protocol_babble_files(corpus)) == BABBLE_SOURCES
    few = tmp_path / "few"
    few.mkdir()
    for index in range(BABBLE_SOURCES):
        soundfile.write(few / f"{index}.wav", np.zeros(160, np.float32), 16000)
    for folder, problem in ((few, "no audio file after the first 20"), (tmp_path / "none", "no such file"),
                            ("", "an empty name is no file or folder")):
        with pytest.raises(SettingError, match=f"--augment-babble-from.*{problem}"):
            finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--augment-babble-from",
                                         str(folder)))


def test_augment_trains_on_copies_and_scores_the_original_audio(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--augment", "2")
    utterances = read_corpus("ravdess", str(corpus))
    (train, _, test), statistics, _ = finetune.datasets(args, "mfcc",
                                                        [utterances[:8], utterances[8:12], utterances[:8]], seed=0)
    original = [np.load(f) for f in cache_features(utterances[:8], mfcc_extractor(), tmp_path / "cache",
                                                   finetune.frontend(args))]
    np.testing.assert_allclose(statistics[0], np.concatenate(original).astype(np.float64).mean(0), rtol=1e-6)
    tested = next(iter(test))[0]["features"].numpy()
    np.testing.assert_allclose(tested, np.stack(original[:4]), rtol=1e-3, atol=1e-3)  # the first batch of 4
    assert len(list((tmp_path / "cache").glob("mfcc*-shift0-*"))) == 2
    assert "augment" in args.settings() and "utterance_gain" not in args.settings()
    assert "augment" not in config_for(corpus, tmp_path, "e2e").settings()
    gained = config_for(corpus, tmp_path, "mfcc", "--augment", "2", "--utterance-gain", "6")
    assert gained.settings()["utterance_gain"] == 6
    with pytest.raises(SettingError, match="--utterance-gain .* needs --augment"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--utterance-gain", "6"))


def test_speaker_features_map_each_speaker_onto_the_training_statistics(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--speaker-features")
    utterances = read_corpus("ravdess", str(corpus))
    train, test = utterances[:14], utterances[14:]  # actors 1-2 train, 3-4 test
    (_, _, tested), (mean, variance), _ = finetune.datasets(args, "mfcc", [train, test, test], seed=0)
    items = [features[:length] for inputs, _ in tested
             for features, length in zip(inputs["features"].numpy(), inputs["lengths"].numpy())]
    for speaker in ("Actor_03", "Actor_04"):  # the test stream keeps the corpus's order
        frames = np.concatenate([f for f, u in zip(items, test) if u.speaker == speaker]).astype(np.float64)
        np.testing.assert_allclose(frames.mean(0), mean, atol=1e-3 * np.sqrt(variance).max())
        np.testing.assert_allclose(frames.var(0), variance, rtol=1e-2)
    raw = parsed(args_for(corpus, tmp_path, "mfcc"))
    plain = next(iter(finetune.datasets(raw, "mfcc", [train, test, test], seed=0)[0][2]))[0]["features"].numpy()
    assert np.abs(plain - next(iter(tested))[0]["features"].numpy()).max() > 0.1
    assert args.settings()["speaker_features"] is True and "speaker_features" not in raw.settings()
    with pytest.raises(SettingError, match="--speaker-features .* needs --standardize"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--speaker-features", "--no-standardize"))


def test_speaker_features_record_where_the_training_speakers_neutral_utterances_land(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--augment", "1", "--speaker-features")
    train = read_corpus("ravdess", str(corpus))[:14]
    (_, mapped, _), _, (mean, variance) = finetune.datasets(args, "mfcc", [train, train, train], seed=0)
    items = [features[:length] for inputs, _ in mapped
             for features, length in zip(inputs["features"].numpy(), inputs["lengths"].numpy())]
    neutral = np.concatenate([f for f, u in zip(items, train) if u.emotion == "neutral"]).astype(np.float64)
    np.testing.assert_allclose(mean, neutral.mean(0), atol=1e-5)
    np.testing.assert_allclose(variance, neutral.var(0), rtol=1e-4)
    assert np.abs(mean - np.concatenate(items).mean(0)).max() > 0.1  # not where all utterances land
    on_neutral = config_for(corpus, tmp_path, "mfcc", "--speaker-features", "--speaker-calibration", "neutral")
    assert finetune.datasets(on_neutral, "mfcc", [train, train, train], seed=0)[2] is None  # the reference is neutral
    finetune.finetune(args)
    saved = keras.saving.load_model(tmp_path / "mfcc" / "recognizer.keras").neutral_statistics
    assert saved is not None and len(saved[0]) == len(mean)


@pytest.mark.parametrize("option, setting, trained_with", [
    ("--attention-span", "attention_span", lambda model: model.attention.span),
    ("--frame-average", "frame_average", lambda model: model.averaging.size),
])
def test_a_head_option_is_recorded_and_trained_with(corpus, tmp_path, option, setting, trained_with):
    args = config_for(corpus, tmp_path, "mfcc", option, "3")
    assert args.settings()[setting] == 3
    assert setting not in config_for(corpus, tmp_path, "mfcc").settings()
    finetune.finetune(args)
    assert trained_with(keras.saving.load_model(tmp_path / "mfcc" / "recognizer.keras")) == 3


def test_speech_frames_keep_the_frames_that_hold_speech_and_go_with_the_model(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--speech-frames")
    assert args.settings()["speech_frames"] is True and "speech_frames" not in config_for(corpus, tmp_path,
                                                                                       "mfcc").settings()
    rng = np.random.default_rng(1)
    for actor, emotion in [(1, "03"), (1, "04"), (2, "03")]:  # a burst of noise in near-silence, like a clip's speech
        path = tmp_path / "bursts" / f"Actor_{actor:02d}" / f"03-01-{emotion}-01-01-01-{actor:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, rng.normal(0, 1, 9600) * np.repeat([1e-4, 0.1, 1e-4], 3200), 16000, subtype="FLOAT")
    bursts = read_corpus("ravdess", str(tmp_path / "bursts"))
    steady = read_corpus("ravdess", str(corpus))[:2]  # steady noise, nothing stands out: every frame is kept
    extractor = mfcc_extractor()
    every, kept = ([np.load(f) for f in cache_features([*bursts, *steady], extractor, tmp_path / "cache",
                                                       finetune.frontend(config))]
                   for config in (config_for(corpus, tmp_path, "mfcc"), args))
    level = LevelSettings(per_speaker=True)
    for index, utterance in enumerate(bursts):
        calibration = speaker_level([load_audio(u.path) for u in bursts if u.speaker == utterance.speaker], level)
        mask = speech_mask(normalize_level(load_audio(utterance.path), level, calibration=calibration),
                           len(every[index]), 400, 160)
        assert 0.3 < mask.mean() < 0.6  # the burst's frames and a hangover
        np.testing.assert_array_equal(kept[index], every[index][mask])
    for all_frames, same in zip(every[len(bursts):], kept[len(bursts):]):
        np.testing.assert_array_equal(same, all_frames)
    finetune.finetune(args)
    frontend = keras.saving.load_model(tmp_path / "mfcc" / "recognizer.keras").frontend
    assert frontend["speech_frames"] == dataclasses.asdict(SpeechFrameSettings())
    with pytest.raises(SettingError, match="--speech-frames .* e2e"):
        finetune.finetune(config_for(corpus, tmp_path, "e2e", "--speech-frames"))


def test_a_speech_floor_drops_the_quiet_frames_and_goes_with_the_model(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--speech-frames", "--speech-floor", "-45")
    assert args.settings()["speech_floor"] == -45
    assert "speech_floor" not in config_for(corpus, tmp_path, "mfcc", "--speech-frames").settings()
    assert config_for(corpus, tmp_path, "mfcc", "--speech-frames", "--speech-floor", "-60").settings() == \
        config_for(corpus, tmp_path, "mfcc", "--speech-frames").settings()  # the default, given
    path = tmp_path / "quiet" / "Actor_01" / "03-01-01-01-01-01-01.wav"
    path.parent.mkdir(parents=True)
    # near-silence, then 30 dB under the loud part (about -55 dBFS behind the level normalisation), then loud
    soundfile.write(path, np.random.default_rng(2).normal(0, 1, 14400) * np.repeat([1e-5, 3e-3, 0.1], 4800), 16000,
                    subtype="FLOAT")
    quiet = read_corpus("ravdess", str(tmp_path / "quiet"))
    kept = {}
    for floor in (None, -45.0):
        config = args if floor else config_for(corpus, tmp_path, "mfcc", "--speech-frames")
        settings = SpeechFrameSettings(**({"floor_dbfs": floor} if floor else {}))
        assert finetune.frontend(config)["speech_frames"] == dataclasses.asdict(settings)
        assert finetune.recognizer(config, True).frontend == finetune.frontend(config)
        kept[floor] = np.load(cache_features(quiet, mfcc_extractor(), tmp_path / "cache", finetune.frontend(config))[0])
    assert len(kept[-45.0]) > 25 and len(kept[None]) - len(kept[-45.0]) > 25  # of the thirds' 30 frames: the quiet
    # third is speech at -60 dBFS, not at -45
    np.testing.assert_array_equal(kept[-45.0], kept[None][-len(kept[-45.0]):])
    with pytest.raises(SettingError, match="--speech-floor .* --speech-frames"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--speech-floor", "-45"))
    for bad in ("nan", "5"):
        with pytest.raises(SettingError, match=f"--speech-floor {bad}: a level in dBFS, below 0"):
            finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--speech-frames", "--speech-floor", bad))


def test_a_speech_hangover_sets_the_frames_kept_after_speech_and_goes_with_the_model(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--speech-frames", "--speech-hangover", "3")
    assert args.settings()["speech_hangover"] == 3
    assert config_for(corpus, tmp_path, "mfcc", "--speech-frames", "--speech-hangover", "0").settings()[
        "speech_hangover"] == 0  # loud frames only: a run of its own
    assert config_for(corpus, tmp_path, "mfcc", "--speech-frames", "--speech-hangover", "10").settings() == \
        config_for(corpus, tmp_path, "mfcc", "--speech-frames").settings()  # the default, given
    path = tmp_path / "burst" / "Actor_01" / "03-01-01-01-01-01-01.wav"
    path.parent.mkdir(parents=True)
    # near-silence, loud noise, near-silence: the frames after the last loud one are speech for the hangover only
    soundfile.write(path, np.random.default_rng(3).normal(0, 1, 9600) * np.repeat([1e-5, 0.1, 1e-5], 3200), 16000,
                    subtype="FLOAT")
    burst = read_corpus("ravdess", str(tmp_path / "burst"))
    kept = {}
    for hangover, config in ((3, args), (10, config_for(corpus, tmp_path, "mfcc", "--speech-frames"))):
        assert finetune.frontend(config)["speech_frames"] == \
            dataclasses.asdict(SpeechFrameSettings(hangover_frames=hangover))
        assert finetune.recognizer(config, True).frontend == finetune.frontend(config)
        kept[hangover] = len(np.load(cache_features(burst, mfcc_extractor(), tmp_path / "cache",
                                                    finetune.frontend(config))[0]))
    assert kept[10] - kept[3] == 7
    with pytest.raises(SettingError, match="--speech-hangover .* --speech-frames"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--speech-hangover", "3"))
    with pytest.raises(SystemExit):
        config_for(corpus, tmp_path, "mfcc", "--speech-frames", "--speech-hangover", "-1")


def test_a_weight_average_is_recorded_and_is_what_the_best_model_saves(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--weight-average", "0.9")
    assert args.settings()["weight_average"] == 0.9
    assert "weight_average" not in config_for(corpus, tmp_path, "mfcc").settings()
    finetune.finetune(args)
    optimizer = keras.saving.load_model(tmp_path / "mfcc" / "recognizer.keras").optimizer
    assert optimizer.use_ema and optimizer.ema_momentum == 0.9


def test_speaker_features_can_be_calibrated_on_each_speakers_neutral_utterances(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--speaker-features", "--speaker-calibration", "neutral")
    utterances = read_corpus("ravdess", str(corpus))
    train, test = utterances[:14], utterances[14:]
    (_, _, tested), (mean, variance), _ = finetune.datasets(args, "mfcc", [train, test, test], seed=0)
    items = [features[:length] for inputs, _ in tested
             for features, length in zip(inputs["features"].numpy(), inputs["lengths"].numpy())]
    for speaker in ("Actor_03", "Actor_04"):  # each speaker's neutral clip is mapped onto the training statistics
        (neutral,) = [f for f, u in zip(items, test) if u.speaker == speaker and u.emotion == "neutral"]
        others = np.concatenate([f for f, u in zip(items, test) if u.speaker == speaker and u.emotion != "neutral"])
        np.testing.assert_allclose(neutral.astype(np.float64).mean(0), mean, atol=1e-3 * np.sqrt(variance).max())
        assert np.abs(others.mean(0) - mean).max() > 0.1  # louder noise than the neutral clip: mapped away
    assert args.settings()["speaker_calibration"] == "neutral"
    explicit_default = config_for(corpus, tmp_path, "mfcc", "--speaker-features", "--speaker-calibration", "all")
    assert explicit_default.settings() == config_for(corpus, tmp_path, "mfcc", "--speaker-features").settings()


def test_cross_sentence_trains_on_one_sentence_and_scores_each_apart(corpus, tmp_path):
    for clip in corpus.rglob("*.wav"):  # the miniature corpus with its clips also as sentence 2
        for statement in ("01", "02"):
            parts = clip.stem.split("-")  # 03-01-EE-II-SS-RR-AA
            copy = tmp_path / clip.parent.name / f"{'-'.join([*parts[:4], statement, *parts[5:]])}.wav"
            copy.parent.mkdir(exist_ok=True)
            copy.write_bytes(clip.read_bytes())
    utterances = read_corpus("ravdess", str(tmp_path))
    assert {u.sentence for u in utterances} == {1, 2}
    train, validation, test = split("ravdess", utterances, 0, 4, 0.2, 0, train_sentence=2)
    assert {u.sentence for u in [*train, *validation]} == {2} and {u.sentence for u in test} == {1, 2}
    assert (train, validation, test)[2] == split("ravdess", utterances, 0, 4, 0.2, 0)[2]
    predicted = np.random.default_rng(0).normal(size=(len(test), 3))
    scores = scores_by_sentence(test, predicted)
    ones = [i for i, u in enumerate(test) if u.sentence == 1]
    truth = np.array([[u.activation, u.valence, u.dominance] for u in test])[ones]
    expected = 2 * ((truth - truth.mean(0)) * (predicted[ones] - predicted[ones].mean(0))).mean(0) / (
        truth.var(0) + predicted[ones].var(0) + (truth.mean(0) - predicted[ones].mean(0)) ** 2)
    np.testing.assert_allclose([scores["1"][d] for d in DIMENSIONS], expected, rtol=1e-6)  # labels are float32
    with pytest.raises(SplitError, match="no fixed sentences"):
        split("iemocap", [u.__class__(**{**vars(u), "sentence": None}) for u in utterances], 0, 4, 0.2, 0,
                       train_sentence=1)


def test_features_start_from_their_speakers_median_level(corpus, tmp_path):
    """Per-speaker calibration keeps a speaker's loud clips louder than their quiet ones (the corpus's
    emotions differ in level by up to 12 dB), where per-utterance normalisation evens them out."""
    utterances = [u for u in read_corpus("ravdess", str(corpus)) if u.speaker == "Actor_02"]
    extractor = mfcc_extractor()
    clips = [load_audio(u.path) for u in utterances]
    level = float(np.median([speech_level(clip) for clip in clips]))
    by_speaker = [np.load(f) for f in cache_features(utterances, extractor, tmp_path, frontend_config(
        LevelSettings(per_speaker=True)))]
    for clip, cached in zip(clips, by_speaker):
        expected = extractor[1](normalize_level(clip, calibration=level))
        np.testing.assert_allclose(cached, expected, rtol=2e-3, atol=2e-3)  # float16
    per_utterance = [np.load(f) for f in cache_features(utterances, extractor, tmp_path,
                                                        frontend_config(LevelSettings()))]

    def spread(features):  # of the clips' mean first coefficient, which follows the level
        return np.ptp([f[:, 0].astype(np.float64).mean() for f in features])

    assert spread(by_speaker) > 3 * spread(per_utterance)


def test_frozen_features_are_cut_to_the_frames_of_the_e2e_audio(corpus, tmp_path):
    args = config_for(corpus, tmp_path, "mfcc", "--max-seconds", "0.3")
    utterances = read_corpus("ravdess", str(corpus))[:3]
    (*_, test), *_ = finetune.datasets(args, "mfcc", [utterances] * 3, seed=0)
    batch, _ = next(iter(test))
    frames = 1 + (4800 - 400) // 160  # MFCC frames of 0.3 s; the encoder's: (4800 - 425) // 160 + 1
    assert batch["features"].shape[1] == frames == 28 and list(batch["lengths"]) == [28] * 3
    whole = [np.load(f) for f in cache_features(utterances, mfcc_extractor(), tmp_path / "cache",
                                                finetune.frontend(args))]
    assert len(whole[0]) == 58  # 0.6 s clips
    np.testing.assert_allclose(batch["features"], np.stack([w[:28] for w in whole]).astype(np.float32))


def test_precpc_uses_the_given_model_and_caches_its_features(corpus, tmp_path):
    keras.utils.set_random_seed(0)
    cpc = CPC(encoder_channels=8, context_units=16, prediction_steps=2, negatives=3)
    cpc.build((None, None))
    cpc.save(tmp_path / "cpc.keras")
    args = config_for(corpus, tmp_path, "precpc", "--cpc", str(tmp_path / "cpc.keras"))
    finetune.finetune(args)
    cached = list((tmp_path / "cache").glob("cpc-*/*.npy"))
    assert len(cached) == 28  # every clip once
    utterance = read_corpus("ravdess", str(corpus))[0]
    speaker = [u for u in read_corpus("ravdess", str(corpus)) if u.speaker == utterance.speaker]
    features = cache_features(speaker, cpc_extractor(tmp_path / "cpc.keras"), tmp_path / "cache",
                              finetune.frontend(args))[0]
    assert Path(features) in cached
    level = float(np.median([speech_level(load_audio(u.path)) for u in speaker]))
    audio = normalize_level(load_audio(utterance.path), calibration=level)
    contexts = keras.ops.convert_to_numpy(cpc.context(audio[None]))[0]
    assert contexts.shape == (58, 16)  # the given model's contexts of 0.6 s: (9600 - 425) // 160 + 1
    assert np.abs(contexts).max() > 1e-3  # an untrained CPC's contexts are small: the tolerance is float16's
    np.testing.assert_allclose(np.load(features), contexts, rtol=2e-3, atol=1e-5)
    fused = config_for(corpus, tmp_path, "precpc", "--cpc", str(tmp_path / "cpc.keras"), "--mfccs", "8",
                       "--mfcc-band", "300", "3400", "--pitch", "--feature-dropout", "0.3",
                       "--context-dropout", "0.2", "--attention-dim", "12", "--attention-heads", "3",
                       "--attention-residual", "--attentive-pooling", "--out", str(tmp_path / "fused"))
    finetune.finetune(fused)
    assert fused.settings()["mfccs"] == 8 and fused.settings()["mfcc_band"] == [300, 3400]
    assert fused.settings()["pitch"] is True and fused.settings()["feature_dropout"] == 0.3
    assert fused.settings()["context_dropout"] == 0.2
    assert fused.settings()["attention_dim"] == 12 and fused.settings()["attention_heads"] == 3
    assert fused.settings()["attention_residual"] is True and fused.settings()["attentive_pooling"] is True
    paper = config_for(corpus, tmp_path, "precpc", "--cpc", str(tmp_path / "cpc.keras"), "--attention-dim", "512",
                       "--attention-heads", "8", "--no-attention-residual", "--no-attentive-pooling")
    assert paper.settings() == args.settings()  # the defaults given: the same run (it resumes, it tabulates)
    assert not {"mfccs", "mfcc_band", "pitch", "feature_dropout", "context_dropout", "attention_dim",
                "attention_heads", "attention_residual", "attentive_pooling"} & set(args.settings())
    recognizer = keras.saving.load_model(tmp_path / "fused" / "recognizer.keras")
    assert recognizer.mfccs == 8 and recognizer.feature_dropout == 0.3 and recognizer.context_dropout == 0.2
    assert recognizer.attention.query.kernel.shape == (16 + 8 + 2, 12) and recognizer.attention.num_heads == 3
    assert recognizer.attention.output_dense.kernel.shape == (12, 16 + 8 + 2) and recognizer.residual
    assert recognizer.mfcc_band == (300, 3400) and recognizer.pitch
    assert isinstance(recognizer.pooling, AttentiveStatsPooling)
    band = MFCC(8, band=(300, 3400))  # MFCCs of the telephone band, from each context's first sample:
    mfccs = keras.ops.convert_to_numpy(band(audio[None]))[0][:58]
    assert np.abs(mfccs - keras.ops.convert_to_numpy(MFCC(8)(audio[None]))[0][:58]).max() > 1  # the band matters
    pitch = keras.ops.convert_to_numpy(Pitch()(audio[None]))[0][:58]  # and then voicing and pitch
    folder = next((tmp_path / "cache").glob("cpc-*+mfcc8-300-3400+pitch75-500-60-2000-0.2-150-*"))  # Pitch's settings
    appended = np.load(folder / Path(features).name)
    np.testing.assert_allclose(appended, np.concatenate([contexts, mfccs, pitch], axis=1), rtol=2e-3, atol=1e-3)
    with pytest.raises(SettingError, match="--attention-dim 12 does not split over --attention-heads 8"):
        finetune.finetune(config_for(corpus, tmp_path, "precpc", "--cpc", str(tmp_path / "cpc.keras"),
                                     "--attention-dim", "12", "--out", str(tmp_path / "refused")))
    assert not (tmp_path / "refused").exists()
    e2e = finetune.recognizer(config_for(corpus, tmp_path, "e2e", "--attention-dim", "12", "--attention-heads", "3",
                                         "--attention-residual", "--attentive-pooling"), standardize=False).recognizer
    assert (e2e.attention_dim, e2e.num_heads, e2e.residual, e2e.attentive_pooling) == (12, 3, True, True)  # e2e's
    with pytest.raises(SettingError, match="--mfccs .* mfcc has none"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--mfccs", "8"))
    with pytest.raises(SettingError, match="--mfcc-band .* needs --mfccs"):
        finetune.finetune(config_for(corpus, tmp_path, "precpc", "--cpc", str(tmp_path / "cpc.keras"),
                                     "--mfcc-band", "300", "3400"))
    with pytest.raises(SettingError, match="--pitch .* needs --mfccs"):
        finetune.finetune(config_for(corpus, tmp_path, "precpc", "--cpc", str(tmp_path / "cpc.keras"), "--pitch"))
    with pytest.raises(SettingError, match="--feature-dropout .* e2e trains on the audio"):
        finetune.finetune(config_for(corpus, tmp_path, "e2e", "--feature-dropout", "0.2"))
    with pytest.raises(SettingError, match="--context-dropout .* needs --mfccs"):
        finetune.finetune(config_for(corpus, tmp_path, "precpc", "--cpc", str(tmp_path / "cpc.keras"),
                                     "--context-dropout", "0.2"))


def test_a_teacher_gives_each_version_of_a_training_utterance_its_target_and_is_recorded(corpus, tmp_path):
    finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--out", str(tmp_path / "teacher")))
    teacher_path = str(tmp_path / "teacher" / "recognizer.keras")
    args = config_for(corpus, tmp_path, "mfcc", "--augment", "2", "--teacher", teacher_path, "--teacher-weight", "0.25")
    utterances = read_corpus("ravdess", str(corpus))
    train, truth = utterances[:14], labels(utterances[:14])  # actors 1 and 2
    teacher = finetune.load_teacher(args)
    (trained, validated, _), _, _ = finetune.datasets(args, "mfcc", [train, utterances[14:18], train], seed=0,
                                                      teacher=teacher)
    original = [np.load(f) for f in cache_features(train, mfcc_extractor(), tmp_path / "cache",
                                                   finetune.frontend(args))]
    versions = []  # per item: the utterance it is a version of (the original's, else None for a shifted copy)
    for inputs, targets in trained:
        for features, length, target in zip(inputs["features"].numpy(), inputs["lengths"].numpy(), targets.numpy()):
            estimate = keras.ops.convert_to_numpy(teacher({"features": features[None, :length],
                                                           "lengths": np.array([length])}))[0]
            label = (target - 0.25 * estimate) / 0.75  # what is left of the target is the utterance's label
            assert np.abs(label - truth).max(axis=1).min() < 1e-4
            same = [i for i, f in enumerate(original)
                    if len(f) == length and np.allclose(f, features[:length], atol=1e-3)]
            if same:
                np.testing.assert_allclose(label, truth[same[0]], atol=1e-4)
            versions.append(same[0] if same else None)
    assert len(versions) == 14 and None in versions and set(versions) - {None}, versions
    estimates = np.concatenate([keras.ops.convert_to_numpy(teacher({"features": f[None], "lengths": np.array([len(f)])}))
                                for f in original])
    assert np.abs(estimates - truth).max() > 0.05  # the teacher moves the targets
    plain = config_for(corpus, tmp_path, "mfcc", "--teacher", teacher_path)  # no copies: one target per clip
    trained = finetune.datasets(plain, "mfcc", [train, utterances[14:18], train], seed=0, teacher=teacher)[0][0]
    items = [(f[:n], t) for x, y in trained for f, n, t in zip(x["features"].numpy(), x["lengths"].numpy(), y.numpy())]
    for features, target in items:  # W 1: the teacher's estimates alone
        (index,) = [i for i, f in enumerate(original) if f.shape == features.shape and np.allclose(f, features, atol=1e-3)]
        np.testing.assert_allclose(target, estimates[index], atol=1e-5)
    assert len(items) == 14 and "teacher_weight" not in plain.settings()
    given = config_for(corpus, tmp_path, "mfcc", "--teacher", teacher_path, "--teacher-weight", "1")
    assert given.settings() == plain.settings()  # the default, given
    np.testing.assert_array_equal(np.concatenate([t.numpy() for _, t in validated]), labels(utterances[14:18]))
    assert args.settings()["teacher_weight"] == 0.25
    assert args.settings()["teacher_sha256"] == features_module.file_digest(teacher_path)
    assert not {"teacher", "teacher_weight", "teacher_sha256"} & set(config_for(corpus, tmp_path, "mfcc").settings())
    assert finetune.finetune(args)["settings"] == args.settings()


def test_a_teacher_that_cannot_teach_the_run_is_refused_by_name(corpus, tmp_path):
    finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--out", str(tmp_path / "teacher")))
    teacher = str(tmp_path / "teacher" / "recognizer.keras")
    with pytest.raises(SettingError, match="recognizer.keras: the teacher differs from this run in speaker_features: "):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--teacher", teacher, "--speaker-features"))
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="other.keras: a Keras Sequential, not an EmotionRecognizer or a "
                                         "RecognizerEnsemble"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--teacher", str(tmp_path / "other.keras")))
    with pytest.raises(SettingError, match="--teacher-weight .* needs --teacher"):
        finetune.finetune(config_for(corpus, tmp_path, "mfcc", "--teacher-weight", "0.5"))
    with pytest.raises(SettingError, match="--teacher .* e2e trains on the audio"):
        finetune.finetune(config_for(corpus, tmp_path, "e2e", "--teacher", teacher))
    assert not (tmp_path / "mfcc").exists() and not (tmp_path / "e2e").exists()
    cpc = CPC(encoder_channels=8, context_units=16, prediction_steps=2, negatives=3)
    cpc.build((None, None))
    cpc.save(tmp_path / "cpc.keras")
    with pytest.raises(SettingError, match="recognizer.keras: the teacher takes 40-dimensional features, this run's "
                                           "have 16"):
        finetune.finetune(config_for(corpus, tmp_path, "precpc", "--cpc", str(tmp_path / "cpc.keras"),
                                     "--teacher", teacher))
    with pytest.raises(SystemExit, match="error: --teacher: a teacher has heard every fold but the one"):
        evaluate.main(["--corpus", "ravdess", "--data", str(corpus), "--systems", "mfcc", "--out",
                       str(tmp_path / "grid"), "--teacher", teacher])


@pytest.mark.slow
def test_minicpc_pretrains_only_on_training_audio(corpus, tmp_path):
    args = args_for(corpus, tmp_path, "minicpc", "--fold", "1", "--minicpc-epochs", "1", "--minicpc-steps", "1",
                    "--minicpc-crop-seconds", "0.5", "--epochs", "1")
    finetune.finetune(parsed(args))
    listing_path = next((tmp_path / "cache" / "minicpc").glob("*/train_files.txt"))
    listing = file_list(listing_path)  # keyed on that listing, speakers included:
    assert listing_path.parent == finetune.minicpc_folder(parsed(args),
                                                          listing_path.read_text())
    train, validation, test = split("ravdess", read_corpus("ravdess", str(corpus)), 1, 4, 0.34, 0)
    assert sorted((u.path, u.speaker) for u in listing) == sorted((u.path, u.speaker) for u in [*train, *validation])
    assert not {u.path for u in listing} & {u.path for u in test}
    args[args.index("--out") + 1] = str(tmp_path / "again")  # the same run, its miniCPC now cached
    finetune.finetune(parsed(args))
    first, again = (np.loadtxt(tmp_path / name / "predictions.csv", delimiter=",", skiprows=1,
                               usecols=(5, 6, 7)) for name in ("minicpc", "again"))
    np.testing.assert_allclose(again, first, atol=1e-5)  # initialised alike with and without pretraining


def test_a_second_run_of_the_fold_waits_for_the_minicpc_pretraining_and_reuses_it(corpus, tmp_path, monkeypatch):
    fcntl = pytest.importorskip("fcntl")
    held = []

    def pretrain(args):  # another run of the fold, trying to pretrain meanwhile, would wait
        with open(Path(args.out) / "lock") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert args.strategy == "default"  # one device, as finetuning, however many GPUs are visible
        held.append(args.out)

    monkeypatch.setattr(finetune.pretrain, "pretrain", pretrain)
    args = config_for(corpus, tmp_path, "minicpc")
    utterances = read_corpus("ravdess", str(corpus))
    model = finetune.minicpc_model(args, utterances, seed=0)
    assert finetune.minicpc_model(args, utterances, seed=0) == model and held == [str(model.parent)]


def test_minicpc_cache_is_keyed_on_files_speakers_and_pretraining_settings(tmp_path, monkeypatch):
    def folder(*options: str, listing="a.wav\t1\nb.wav\t2\n"):
        config = parsed(["--corpus", "ravdess", "--data", "x", "--system", "minicpc", "--out", "y",
                         "--cache", str(tmp_path), *options])
        return finetune.minicpc_folder(config, listing)

    assert folder() == folder()
    assert len({folder(), folder(listing="a.wav\t1\n"), folder(listing="a.wav\t1\nb.wav\t1\n"),
                folder("--minicpc-epochs", "3"), folder("--minicpc-steps", "7"),
                folder("--minicpc-crop-seconds", "2")}) == 6
    assert folder("--verbose", "0") == folder()  # how it shows progress is not a setting
    default = folder()
    monkeypatch.setattr(finetune, "PretrainConfig", functools.partial(PretrainConfig, negatives=10))
    assert folder() != default  # a changed pretraining default is not read from the old cache


@pytest.mark.slow
def test_evaluate_tabulates_folds_and_runs_and_reuses_finished_runs(corpus, tmp_path):
    argv = args_for(corpus, tmp_path, "mfcc")
    argv = [a for a in argv if a not in ("--system", "mfcc")]
    argv[argv.index("--out") + 1] = str(tmp_path / "grid")
    argv += ["--systems", "mfcc", "--fold-list", "0", "2", "--runs", "2"]
    results, failures = evaluate.run_grid(evaluate.build_parser().parse_args(argv))
    assert not failures
    report = evaluate.write_reports(results, tmp_path / "grid")
    runs = [r for r in report["runs"]]
    assert [(r["fold"], r["run"]) for r in runs] == [(0, 0), (0, 1), (2, 0), (2, 1)]
    mean, std = report["summary"]["mfcc"]["ccc_valence"]
    values = [r["ccc_valence"] for r in runs]
    assert mean == pytest.approx(np.mean(values)) and std == pytest.approx(np.std(values))
    table = (tmp_path / "grid" / "results.md").read_text()
    assert f"{mean:.3f} ± {std:.3f}" in table and "mfcc per fold" in table
    with open(tmp_path / "grid" / "results.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 4 * 3
    for name in ("scatter_mfcc.png", "runs.png"):
        assert (tmp_path / "grid" / name).stat().st_size > 0
    stamp = (tmp_path / "grid" / "mfcc" / "fold0" / "run0" / "results.json").stat().st_mtime
    again, _ = evaluate.run_grid(evaluate.build_parser().parse_args(argv))  # finished runs are read back
    assert (tmp_path / "grid" / "mfcc" / "fold0" / "run0" / "results.json").stat().st_mtime == stamp
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(report["runs"]))
    partial = evaluate.build_parser().parse_args([*argv, "--fold-list", "0", "1", "--finished-only"])
    finished, _ = evaluate.run_grid(partial)
    assert [(r["fold"], r["run"]) for r in finished] == [(0, 0), (0, 1)]  # fold 1 not trained
    assert not (tmp_path / "grid" / "mfcc" / "fold1").exists()
    with pytest.raises(evaluate.GridError, match="no finished run"):
        evaluate.evaluate(evaluate.build_parser().parse_args([*argv, "--fold-list", "3", "--finished-only"]))


def test_a_table_row_of_one_run_has_no_spread():
    runs = [{"system": "e2e", "ccc_activation": 0.5, "ccc_valence": 0.25, "ccc_dominance": 0.125, "seconds": 60.0},
            *({"system": "mfcc", "ccc_activation": a, "ccc_valence": 0.0, "ccc_dominance": 0.0, "seconds": 120.0}
              for a in (0.1, 0.3))]
    table = evaluate.markdown("All folds", evaluate.summary(runs, "system"), "system")
    assert "| e2e | 0.500 | 0.250 | 0.125 | 1 | 1.0 |" in table  # not "± 0.000": one run shows no spread
    assert "| mfcc | 0.200 ± 0.100 | 0.000 ± 0.000 | 0.000 ± 0.000 | 2 | 2.0 |" in table


@pytest.mark.slow
def test_evaluate_goes_on_past_a_failed_run_and_lists_it(corpus, tmp_path):
    argv = args_for(corpus, tmp_path, "mfcc", "--epochs", "1")
    argv = [a for a in argv if a not in ("--system", "mfcc")]
    argv[argv.index("--out") + 1] = str(tmp_path / "grid")
    argv += ["--systems", "mfcc", "--fold-list", "0", "2"]
    with pytest.raises(SettingError, match="--cpc"):  # before any training
        evaluate.run_grid(evaluate.build_parser().parse_args([*argv, "--systems", "mfcc", "precpc"]))
    assert not (tmp_path / "grid").exists()
    assert not evaluate.run_grid(evaluate.build_parser().parse_args([*argv, "--runs", "1"]))[1]
    results, failures = evaluate.run_grid(evaluate.build_parser().parse_args([*argv, "--epochs", "3",
                                                                              "--finished-only"]))
    assert not results and len(failures) == 2
    assert "trained with other settings: epochs 1 (now 3)" in failures[0]
    (tmp_path / "grid" / "mfcc" / "fold0" / "run0" / "results.json").write_text("{")  # a damaged record
    damaged = r"1 run\(s\) failed:\n.*fold0.run0.results.json: not a readable run record"
    with pytest.raises(evaluate.GridError, match=damaged):
        evaluate.evaluate(evaluate.build_parser().parse_args([*argv, "--runs", "1", "--finished-only"]))
    assert "| 2 |" in (tmp_path / "grid" / "results.md").read_text()  # the other fold is still tabulated


def test_a_tensorflow_error_ends_one_run_not_the_grid(tmp_path, monkeypatch):
    def finetune_fold(job):  # fold 0 runs out of memory; fold 2 finishes
        if job.fold == 0:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[32,8,998,998]")
        return {"ccc_activation": 0.5, "ccc_valence": 0.25, "ccc_dominance": 0.125, "seconds": 1.0}

    monkeypatch.setattr(evaluate.finetune, "finetune", finetune_fold)
    argv = ["--corpus", "ravdess", "--data", str(tmp_path), "--systems", "mfcc", "--fold-list", "0", "2",
            "--runs", "1", "--out", str(tmp_path / "grid")]
    results, failures = evaluate.run_grid(evaluate.build_parser().parse_args(argv))
    assert [r["fold"] for r in results] == [2]
    assert failures == [f"{tmp_path / 'grid' / 'mfcc' / 'fold0' / 'run0'}: OOM when allocating tensor with "
                        "shape[32,8,998,998]"]


def test_a_precpc_record_is_tabulated_without_cpc_and_checked_with_it(tmp_path):
    out = tmp_path / "grid" / "precpc" / "fold0" / "run0"
    cpc, other = tmp_path / "cpc.keras", tmp_path / "other.keras"
    cpc.write_bytes(b"a model")
    other.write_bytes(b"another model")
    argv = ["--corpus", "ravdess", "--data", str(tmp_path), "--out", str(tmp_path / "grid")]

    def job(*extra: str):
        args = evaluate.build_parser().parse_args([*argv, *extra])
        return FinetuneConfig.from_args(args, system="precpc", fold=0, run=0, out=str(out))

    out.mkdir(parents=True)
    record = {"ccc_activation": 0.5, "ccc_valence": 0.4, "ccc_dominance": 0.3, "seconds": 60.0,
              "settings": job("--cpc", str(cpc)).settings()}
    (out / "results.json").write_text(json.dumps(record))
    assert "cpc_sha256" in record["settings"]
    assert evaluate.finished_run(job("--finished-only")) == record
    assert evaluate.finished_run(job("--cpc", str(cpc))) == record
    with pytest.raises(ValueError, match="trained with other settings: cpc_sha256"):
        evaluate.finished_run(job("--cpc", str(other)))


@pytest.mark.parametrize(("option", "value", "problem"), [
    ("--max-seconds", "-1", "-1 is not above 0"),  # e2e sliced off the last second
    ("--epochs", "0", "0 is not above 0"),
    ("--minicpc-steps", "0", "0 is not above 0"),
    ("--weight-decay", "-0.001", "-0.001 is below 0"),
    ("--teacher-weight", "0", r"0 is not in (0, 1]"),
])
def test_options_out_of_range_are_refused_by_name(tmp_path, capsys, option, value, problem):
    with pytest.raises(SystemExit):
        finetune.build_parser().parse_args([*args_for(tmp_path, tmp_path, "mfcc"), option, value])
    assert f"argument {option}: {problem}" in capsys.readouterr().err


def test_the_settings_of_the_recorded_runs_are_those_their_options_give_today():
    records = sorted((REPO / "docs").rglob("results.json"))
    recorded = [settings for path in records
                if "optimizer" in (settings := json.loads(path.read_text()).get("settings") or {})]
    assert recorded  # the grid's and the robustness runs' records
    for settings in recorded:
        off = {"bounded": False, "level_normalization": "none"}  # what a record without them was trained with
        digests = {k: settings[k] for k in ("cpc_sha256", "teacher_sha256", "augment_babble_sha256") if k in settings}
        options = {**off, **{k: v for k, v in settings.items() if k not in ("optimizer", *digests)}}
        config = FinetuneConfig(data="x", out="y", **options)
        assert {**config.settings(), **digests} == settings


def test_a_csv_corpus_is_its_files_digest_in_the_settings(tmp_path):
    """A run on `--corpus csv` is trained on what its CSV file says: another file, or the file edited, is another run;
    a corpus with a reader of its own is its folder's, wherever it lies."""
    table = tmp_path / "labels.csv"
    table.write_text("path,speaker,emotion\na.wav,s,sad\n")
    settings = FinetuneConfig(corpus="csv", data=str(table), system="mfcc", out="y").settings()
    assert settings["corpus_sha256"] == features_module.file_digest(table)
    table.write_text("path,speaker,emotion\na.wav,s,happy\n")
    assert FinetuneConfig(corpus="csv", data=str(table), system="mfcc", out="y").settings() != settings
    assert "corpus_sha256" not in FinetuneConfig(corpus="ravdess", data="x", system="mfcc", out="y").settings()


@pytest.mark.parametrize("kind", ["recognizer", "folder", "damaged", "missing"])
def test_an_unusable_cpc_model_is_one_line_naming_it_before_the_corpus_is_read(tmp_path, capsys, kind):
    cpc = tmp_path / "model.keras"
    if kind == "recognizer":  # any Keras model but a CPC one
        keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(cpc)
    elif kind == "folder":
        cpc.mkdir()
    elif kind == "damaged":
        cpc.write_bytes(b"PK\x03\x04 cut short")
    problem = {"recognizer": "a Keras Sequential, not a CPC", "folder": "a folder, not a CPC",
               "damaged": "not a readable Keras model", "missing": "no such file"}[kind]
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=f"^python -m training.finetune: error: {cpc}: {problem}"):
        finetune.main(["--corpus", "ravdess", "--data", str(tmp_path / "no corpus"), "--system", "precpc",
                       "--cpc", str(cpc), "--out", str(out)])
    assert not out.exists()


def test_a_fold_the_corpus_lacks_is_one_line_naming_it_and_writes_nothing(corpus, tmp_path, capsys):
    out = tmp_path / "mfcc"
    with pytest.raises(SystemExit):
        finetune.main(args_for(corpus, tmp_path, "mfcc", "--fold", "-1"))
    assert "argument --fold: -1 is below 0" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="error: fold 4 is not one of the 4 folds"):
        finetune.main(args_for(corpus, tmp_path, "mfcc", "--fold", "4"))
    assert not out.exists()
