"""Tests of keras_cpc.datasets: corpus discovery, speaker splits and the crop pipeline."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_cpc.audio import SAMPLE_RATE, load_audio
from keras_cpc.datasets import (
    Utterance,
    audio_folder,
    crop_dataset,
    find_utterances,
    fit_to_length,
    hold_out_speakers,
    librispeech,
    split_by_speaker,
)

CROP_SECONDS = 1.0
CROP = int(CROP_SECONDS * SAMPLE_RATE)


def _noise(samples, seed):
    """Distinct, PCM-16-exact random noise so every crop can be traced back to its file and offset."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-20000, 20000, samples) / 32768).astype(np.float32)


# ===========================================================================================
# sources
# ===========================================================================================

LIBRI = {
    "train-clean-100": {"19": ["198", "227"], "26": ["495"]},
    "dev-clean": {"84": ["121123"]},
    "train-other-500": {"1001": ["134707"]},
}


@pytest.fixture
def libri_root(tmp_path, write_audio):
    """`<tmp>/corpus/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac` (+ transcripts)."""
    tone = np.full(160, 0.1, np.float32)
    for subset, speakers in LIBRI.items():
        for speaker, chapters in speakers.items():
            for chapter in chapters:
                folder = Path("corpus", "LibriSpeech", subset, speaker, chapter)
                for utt in ("0001", "0000"):
                    write_audio(folder / f"{speaker}-{chapter}-{utt}.flac", tone)
                (tmp_path / folder / f"{speaker}-{chapter}.trans.txt").write_text("HELLO\n")
    (tmp_path / "corpus" / "LibriSpeech" / "README.TXT").write_text("not a subset")
    return tmp_path / "corpus"


def _expected_libri(root, subset):
    out = []
    for speaker, chapters in sorted(LIBRI[subset].items()):
        for chapter in sorted(chapters):
            for utt in ("0000", "0001"):
                path = root / "LibriSpeech" / subset / speaker / chapter / f"{speaker}-{chapter}-{utt}.flac"
                out.append(Utterance(str(path), speaker))
    return out


def test_librispeech_reads_every_subset_sorted(libri_root):
    utterances = librispeech(libri_root)
    expected = []
    for subset in sorted(LIBRI):
        expected += _expected_libri(libri_root, subset)
    assert utterances == expected
    assert len(utterances) == 10
    assert all(isinstance(u.speaker, str) for u in utterances)


def test_librispeech_root_may_be_the_librispeech_folder(libri_root):
    assert librispeech(libri_root / "LibriSpeech") == librispeech(libri_root)
    assert librispeech(str(libri_root)) == librispeech(libri_root)


def test_librispeech_speaker_comes_from_the_path(libri_root):
    utterances = librispeech(libri_root)
    for u in utterances:
        path = Path(u.path)
        assert path.suffix == ".flac"
        assert u.speaker == path.parent.parent.name == path.name.split("-")[0]
    assert {u.speaker for u in utterances} == {"19", "26", "84", "1001"}


def test_librispeech_subsets_argument(libri_root):
    assert librispeech(libri_root, ["dev-clean"]) == _expected_libri(libri_root, "dev-clean")
    both = librispeech(libri_root, ["train-other-500", "train-clean-100"])
    assert both == _expected_libri(libri_root, "train-other-500") + _expected_libri(
        libri_root, "train-clean-100"
    )


def test_librispeech_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="LibriSpeech") as info:
        librispeech(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)


def test_librispeech_missing_subset(libri_root):
    with pytest.raises(FileNotFoundError) as info:
        librispeech(libri_root, ["test-clean"])
    assert str(libri_root / "LibriSpeech" / "test-clean") in str(info.value)


def test_librispeech_subset_without_flac(libri_root):
    empty = libri_root / "LibriSpeech" / "test-other" / "7" / "8"
    empty.mkdir(parents=True)
    (empty / "7-8.trans.txt").write_text("x")
    with pytest.raises(FileNotFoundError) as info:
        librispeech(libri_root, ["test-other"])
    assert str(libri_root / "LibriSpeech" / "test-other") in str(info.value)


@pytest.fixture
def plain_root(tmp_path, write_audio):
    clip = np.full(160, 0.1, np.float32)
    write_audio("plain/alice/a.wav", clip)
    write_audio("plain/alice/session2/b.flac", clip)
    write_audio("plain/bob/c.ogg", clip)
    write_audio("plain/bob/D.WAV", clip)
    write_audio("plain/carol.wav", clip)
    (tmp_path / "plain" / "bob" / "notes.txt").write_text("x")
    (tmp_path / "plain" / "bob" / "e.mp3").write_bytes(b"\x00" * 10)
    (tmp_path / "plain" / "bob" / "._c.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS resource forks
    write_audio("plain/__MACOSX/alice/a.wav", clip)
    write_audio("plain/.cache/a.wav", clip)
    return tmp_path / "plain"


def test_audio_folder_speaker_is_first_subfolder_or_stem(plain_root):
    utterances = audio_folder(plain_root)
    got = {Path(u.path).relative_to(plain_root).as_posix(): u.speaker for u in utterances}
    assert got == {
        "alice/a.wav": "alice",
        "alice/session2/b.flac": "alice",
        "bob/c.ogg": "bob",
        "bob/D.WAV": "bob",
        "carol.wav": "carol",
    }
    assert [u.path for u in utterances] == sorted(u.path for u in utterances)


def test_audio_folder_flat(tmp_path, write_audio):
    for name in ("x1.wav", "x2.flac"):
        write_audio(f"flat/{name}", np.full(10, 0.1, np.float32))
    utterances = audio_folder(tmp_path / "flat")
    assert [(Path(u.path).name, u.speaker) for u in utterances] == [("x1.wav", "x1"), ("x2.flac", "x2")]


def test_audio_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        audio_folder(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(info.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError) as info:
        audio_folder(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value)


def test_find_utterances_picks_layout(libri_root, plain_root):
    libri = librispeech(libri_root)
    plain = audio_folder(plain_root)
    assert find_utterances([libri_root]) == libri
    assert find_utterances([libri_root / "LibriSpeech"]) == libri
    assert find_utterances([plain_root]) == plain
    assert find_utterances([str(plain_root), libri_root]) == plain + libri
    assert find_utterances([]) == []


def test_find_utterances_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError):
        find_utterances([tmp_path / "missing"])


def _fake_corpus(speakers, per_speaker=3):
    return [
        Utterance(f"/fake/{s:04d}/{i}.flac", f"spk{s:04d}") for s in range(speakers) for i in range(per_speaker)
    ]


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.5])
def test_split_by_speaker_disjoint_complete_and_fraction(fraction):
    utterances = _fake_corpus(200)
    train, validation = split_by_speaker(utterances, validation_fraction=fraction, seed=0)
    train_speakers = {u.speaker for u in train}
    validation_speakers = {u.speaker for u in validation}
    assert not train_speakers & validation_speakers
    assert sorted(train + validation, key=lambda u: u.path) == sorted(utterances, key=lambda u: u.path)
    # order within each part follows the input
    assert train == [u for u in utterances if u in set(train)]
    # binomial(200, fraction): allow ~4 standard deviations
    spread = 4 * np.sqrt(200 * fraction * (1 - fraction))
    assert abs(len(validation_speakers) - 200 * fraction) <= spread
    assert len(validation) == 3 * len(validation_speakers)


def test_split_by_speaker_deterministic_and_seeded():
    utterances = _fake_corpus(200)
    first = split_by_speaker(utterances, 0.1, seed=7)
    assert split_by_speaker(list(utterances), 0.1, seed=7) == first
    assert split_by_speaker(list(reversed(utterances)), 0.1, seed=7)[1] == list(reversed(first[1]))
    other = split_by_speaker(utterances, 0.1, seed=8)
    assert {u.speaker for u in other[1]} != {u.speaker for u in first[1]}


def test_split_by_speaker_is_stable_as_corpus_grows():
    small = _fake_corpus(100)
    large = _fake_corpus(300)
    held_small = {u.speaker for u in split_by_speaker(small, 0.1, seed=3)[1]}
    held_large = {u.speaker for u in split_by_speaker(large, 0.1, seed=3)[1]}
    assert held_small
    assert held_small == {s for s in held_large if int(s[3:]) < 100}


@pytest.mark.parametrize("speakers", [2, 3, 5])
def test_split_by_speaker_holds_out_at_least_one(speakers):
    utterances = _fake_corpus(speakers)
    for seed in range(10):
        train, validation = split_by_speaker(utterances, validation_fraction=0.01, seed=seed)
        assert validation and train
        assert not {u.speaker for u in train} & {u.speaker for u in validation}


@pytest.mark.parametrize(("split", "fraction"), [(split_by_speaker, 0.05), (hold_out_speakers, 0.2)])
def test_speaker_splits_edge_cases(split, fraction):
    one = _fake_corpus(1)
    assert all(split(one, fraction, seed) == (one, []) for seed in range(100))  # some seeds rank it below 0.05
    two = _fake_corpus(2)
    assert all(len({u.speaker for u in split(two, 0.99, seed)[0]}) == 1 for seed in range(10))  # one trains
    many = _fake_corpus(20)
    assert split(many, 0.0) == (many, [])
    assert split([], fraction) == ([], [])


@pytest.mark.parametrize(("speakers", "fraction", "expected"),
                         [(18, 0.2, 4), (8, 0.2, 2), (5, 0.01, 1), (2, 0.9, 1)])
def test_hold_out_speakers_holds_out_an_exact_count(speakers, fraction, expected):
    utterances = _fake_corpus(speakers)
    for seed in range(20):
        train, validation = hold_out_speakers(utterances, fraction, seed)
        assert len({u.speaker for u in validation}) == expected
        assert not {u.speaker for u in train} & {u.speaker for u in validation}
        assert sorted(train + validation, key=lambda u: u.path) == sorted(utterances, key=lambda u: u.path)


def test_hold_out_speakers_can_hold_out_whole_groups():
    utterances = _fake_corpus(8)  # speakers spk0000..spk0007, in pairs as IEMOCAP's sessions

    def session(u):
        return f"Session{int(u.speaker[3:]) // 2}"

    for seed in range(10):
        train, validation = hold_out_speakers(utterances, 0.2, seed, session)
        assert len({session(u) for u in validation}) == 1  # round(0.2 * 4 sessions)
        assert len({u.speaker for u in validation}) == 2  # both speakers of it
        assert not {session(u) for u in train} & {session(u) for u in validation}
        assert len(train) + len(validation) == len(utterances)


def test_hold_out_speakers_is_seeded_and_deterministic():
    utterances = _fake_corpus(18)
    held = [frozenset(u.speaker for u in hold_out_speakers(utterances, 0.2, seed)[1]) for seed in range(5)]
    assert held[0] == {u.speaker for u in hold_out_speakers(list(reversed(utterances)), 0.2, 0)[1]}
    assert len(set(held)) > 1


# ===========================================================================================
# crops
# ===========================================================================================


def test_fit_to_length_crop_is_slice():
    audio = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(fit_to_length(audio, 10, offset=37), audio[37:47])
    np.testing.assert_array_equal(fit_to_length(audio, 10), audio[:10])
    np.testing.assert_array_equal(fit_to_length(audio, 10, offset=90), audio[90:])
    np.testing.assert_array_equal(fit_to_length(audio, 100), audio)


def test_fit_to_length_repeats_short_input():
    audio = np.array([1, 2, 3], np.float32)
    out = fit_to_length(audio, 8)
    np.testing.assert_array_equal(out, [1, 2, 3, 1, 2, 3, 1, 2])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(fit_to_length(audio, 6), [1, 2, 3, 1, 2, 3])
    np.testing.assert_array_equal(fit_to_length(np.array([5.0]), 4), [5, 5, 5, 5])


def test_fit_to_length_never_pads_with_zeros():
    audio = np.random.default_rng(0).uniform(0.1, 1.0, 4801).astype(np.float32)
    out = fit_to_length(audio, 16000, offset=123)
    assert out.shape == (16000,)
    assert np.all(out != 0)
    np.testing.assert_array_equal(out, np.tile(audio, 5)[123:16123])  # repeats from the offset on


def test_fit_to_length_repeats_from_the_offset_modulo_the_length():
    audio = np.array([1, 2, 3], np.float32)
    np.testing.assert_array_equal(fit_to_length(audio, 7, offset=2), [3, 1, 2, 3, 1, 2, 3])
    np.testing.assert_array_equal(fit_to_length(audio, 4, offset=4), [2, 3, 1, 2])


def _locate(crop, audio):
    """Offset of `crop` as a contiguous window of `audio` (or of its repetition when short), else None."""
    n, length = audio.shape[0], crop.shape[0]
    if n < length:  # repeated from some sample on
        tiled = np.tile(audio, -(-length // n) + 1)
        return next((int(o) for o in np.flatnonzero(audio == crop[0])
                     if np.array_equal(tiled[o:o + length], crop)), None)
    for offset in np.flatnonzero(audio[: n - length + 1] == crop[0]):
        if np.array_equal(audio[offset : offset + length], crop):
            return int(offset)
    return None


def _source_of(crop, decoded):
    hits = [(i, o) for i, audio in enumerate(decoded) for o in [_locate(crop, audio)] if o is not None]
    assert len(hits) == 1, f"crop matches {len(hits)} files"
    return hits[0]


def _collect(dataset, batches=None):
    """Numpy batches of a finite dataset, or the first `batches` of an infinite one (iterated fully)."""
    if batches is not None:
        dataset = dataset.take(batches)
    return [batch.numpy() for batch in dataset]


@pytest.fixture
def crop_files(write_audio):
    """Paths and decoded audio: short 0.3 s, long 2.5 s, exactly 1 s, 8 kHz 1.5 s, long 3 s."""
    specs = [
        ("short.wav", _noise(int(0.3 * SAMPLE_RATE), 1), SAMPLE_RATE),
        ("long.flac", _noise(int(2.5 * SAMPLE_RATE), 2), SAMPLE_RATE),
        ("exact.wav", _noise(CROP, 3), SAMPLE_RATE),
        ("narrow.wav", _noise(12000, 4), 8000),
        ("longer.wav", _noise(3 * SAMPLE_RATE, 5), SAMPLE_RATE),
    ]
    paths = [str(write_audio(name, samples, rate)) for name, samples, rate in specs]
    return paths, [load_audio(p) for p in paths]


def test_crop_dataset_eval_single_ordered_pass(crop_files):
    paths, decoded = crop_files
    batches = _collect(crop_dataset(paths, batch_size=2, crop_seconds=CROP_SECONDS, training=False))
    assert [b.shape for b in batches] == [(2, CROP), (2, CROP), (1, CROP)]
    assert all(b.dtype == np.float32 for b in batches)
    crops = np.concatenate(batches)
    assert [_source_of(c, decoded)[0] for c in crops] == [0, 1, 2, 3, 4]
    # short file: repeated from a sample on, never zero-padded
    start = _locate(crops[0], decoded[0])
    np.testing.assert_array_equal(crops[0], np.tile(decoded[0], 5)[start:start + CROP])
    # exactly one crop long: the whole file
    np.testing.assert_array_equal(crops[2], decoded[2])
    # long files: a contiguous window inside the file
    for i in (1, 3, 4):
        offset = _locate(crops[i], decoded[i])
        assert 0 <= offset <= decoded[i].shape[0] - CROP


def test_crop_dataset_eval_is_repeatable(crop_files):
    paths, _ = crop_files
    dataset = crop_dataset(paths, batch_size=3, crop_seconds=CROP_SECONDS, training=False, seed=4)
    first, second = _collect(dataset), _collect(dataset)
    again = _collect(crop_dataset(paths, batch_size=3, crop_seconds=CROP_SECONDS, training=False, seed=4))
    assert len(first) == len(second) == len(again) == 2
    for a, b, c in zip(first, second, again, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_crop_dataset_random_offsets_vary(write_audio):
    """Crop positions are random: across files and seeds not every window starts at 0 or at the same place."""
    paths = [str(write_audio(f"l{i}.wav", _noise(4 * SAMPLE_RATE, 10 + i))) for i in range(4)]
    decoded = [load_audio(p) for p in paths]
    offsets = set()
    for seed in (0, 1):
        batches = _collect(crop_dataset(paths, 4, CROP_SECONDS, seed=seed, training=False))
        for i, crop in enumerate(batches[0]):
            offset = _locate(crop, decoded[i])
            assert offset is not None and 0 <= offset <= 3 * SAMPLE_RATE
            offsets.add(offset)
    assert len(offsets) >= 6


def test_crop_dataset_short_files_start_their_repetition_at_random(write_audio):
    """A file shorter than the crop is repeated from a seeded random sample on, not always from 0."""
    path = str(write_audio("short.wav", _noise(int(0.3 * SAMPLE_RATE), 7)))
    decoded = load_audio(path)
    starts = {_locate(crop, decoded) for seed in range(4)
              for crop in _collect(crop_dataset([path], 1, CROP_SECONDS, seed=seed, training=False))[0]}
    assert None not in starts and len(starts) == 4 and all(0 <= s < len(decoded) for s in starts)


def test_crop_dataset_training_batches_and_epochs(crop_files):
    paths, decoded = crop_files
    paths, decoded = paths[:4], decoded[:4]
    batches = _collect(crop_dataset(paths, batch_size=2, crop_seconds=CROP_SECONDS, seed=1), batches=6)
    assert len(batches) == 6  # repeats past one pass
    for b in batches:
        assert b.shape == (2, CROP) and b.dtype == np.float32
    crops = np.concatenate(batches)
    sources = [_source_of(c, decoded)[0] for c in crops]
    # each pass of 4 files (2 batches) holds every file exactly once
    for epoch in range(3):
        assert sorted(sources[4 * epoch : 4 * epoch + 4]) == [0, 1, 2, 3]


def test_crop_dataset_training_reshuffles_and_recrops(write_audio):
    paths = [str(write_audio("one.wav", _noise(3 * SAMPLE_RATE, 20)))]
    decoded = load_audio(paths[0])
    batches = _collect(crop_dataset(paths, batch_size=1, crop_seconds=CROP_SECONDS, seed=0), batches=4)
    offsets = [_locate(b[0], decoded) for b in batches]
    assert None not in offsets
    assert len(set(offsets)) > 1  # a new random window every pass


def test_crop_dataset_same_seed_same_batches(crop_files):
    paths, _ = crop_files

    def run(seed):
        return _collect(crop_dataset(paths, batch_size=2, crop_seconds=CROP_SECONDS, seed=seed), batches=4)

    first, second, other = run(5), run(5), run(6)
    assert len(first) == len(second) == len(other) == 4
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other, strict=True))


def test_crop_dataset_augments_each_crop_with_a_generator_of_its_seed_and_position(crop_files):
    paths, _ = crop_files

    def scale(audio, rng):  # a stand-in channel whose draw the test can repeat
        return audio * rng.uniform(0.1, 0.9)

    def run(augment=None, seed=5):
        dataset = crop_dataset(paths, batch_size=2, crop_seconds=CROP_SECONDS, seed=seed, augment=augment)
        return [tf.nest.map_structure(lambda t: t.numpy(), batch) for batch in dataset.take(3)]

    plain, pairs, again = run(), run(scale), run(scale)
    for b, (crops, ((heard, target),), ((heard_again, _),)) in enumerate(zip(plain, pairs, again, strict=True)):
        np.testing.assert_array_equal(target, crops)  # the clean crops are those of the plain stream
        np.testing.assert_array_equal(heard, heard_again)
        for row in range(2):
            factor = np.random.default_rng([5, 2 * b + row]).uniform(0.1, 0.9)
            np.testing.assert_allclose(heard[row], crops[row] * factor, rtol=1e-6)
    ((other, _),), = run(scale, seed=6)[:1]
    assert not np.allclose(other, pairs[0][0][0])


def test_crop_dataset_skips_unreadable_files(crop_files, tmp_path, caplog):
    paths, decoded = crop_files
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    mixed = [paths[0], str(corrupt), paths[1], str(empty), paths[2]]
    with caplog.at_level(logging.WARNING):
        batches = _collect(crop_dataset(mixed, batch_size=2, crop_seconds=CROP_SECONDS, training=False))
    crops = np.concatenate(batches)
    assert [_source_of(c, decoded)[0] for c in crops] == [0, 1, 2]
    messages = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert str(corrupt) in messages
    assert str(empty) in messages


def test_crop_dataset_training_skips_unreadable_files(crop_files, tmp_path):
    paths, decoded = crop_files
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(100))
    batches = _collect(crop_dataset([paths[1], str(corrupt), paths[2]], 2, CROP_SECONDS, seed=0), batches=3)
    crops = np.concatenate(batches)
    assert all(b.shape == (2, CROP) for b in batches)
    assert {_source_of(c, decoded)[0] for c in crops} == {1, 2}


@pytest.mark.parametrize("seed", range(5))
def test_crop_dataset_training_goes_on_while_one_file_of_two_is_unreadable(crop_files, tmp_path, seed):
    paths, decoded = crop_files
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(100))  # fails fast: its failures come back together
    crops = np.concatenate(_collect(crop_dataset([str(corrupt), paths[1]], 3, CROP_SECONDS, seed=seed), batches=10))
    assert {_source_of(c, decoded)[0] for c in crops} == {1}


def test_crop_dataset_min_samples_skips_short_files(crop_files):
    paths, decoded = crop_files
    batches = _collect(crop_dataset(paths[:3], 4, CROP_SECONDS, training=False, min_samples=10000))
    crops = np.concatenate(batches)
    assert [_source_of(c, decoded)[0] for c in crops] == [1, 2]  # 0.3 s = 4800 samples dropped


@pytest.mark.parametrize("count", [2, 3])
def test_crop_dataset_shards_partition_files(crop_files, count):
    paths, decoded = crop_files
    whole = np.concatenate(_collect(crop_dataset(paths, 8, CROP_SECONDS, training=False)))
    seen = []
    for index in range(count):
        dataset = crop_dataset(paths, 8, CROP_SECONDS, training=False, shard=(index, count))
        crops = np.concatenate(_collect(dataset))
        sources = [_source_of(c, decoded)[0] for c in crops]
        assert sources == list(range(index, len(paths), count))
        # the same file gets the same crop however the files are sharded
        for crop, source in zip(crops, sources, strict=True):
            np.testing.assert_array_equal(crop, whole[source])
        seen += sources
    assert sorted(seen) == list(range(len(paths)))


def test_crop_dataset_training_shards_are_disjoint(crop_files):
    paths, decoded = crop_files
    parts = []
    for index in range(2):
        batches = _collect(crop_dataset(paths, 1, CROP_SECONDS, seed=0, shard=(index, 2)), batches=6)
        parts.append({_source_of(b[0], decoded)[0] for b in batches})
    assert parts == [{0, 2, 4}, {1, 3}]


def test_crop_dataset_refuses_a_shard_without_files(crop_files):
    paths, _ = crop_files
    assert _collect(crop_dataset(paths[:2], 1, CROP_SECONDS, seed=0, shard=(1, 2)), batches=2)
    with pytest.raises(ValueError, match="input pipeline 2 of 3 has none of the 2 training files"):
        crop_dataset(paths[:2], 1, CROP_SECONDS, seed=0, shard=(2, 3))  # 3 workers, 2 files


def test_crop_dataset_crop_seconds(crop_files):
    paths, decoded = crop_files
    batches = _collect(crop_dataset(paths[1:2], 1, crop_seconds=0.25, training=False))
    assert batches[0].shape == (1, 4000)
    assert _locate(batches[0][0], decoded[1]) is not None


def test_crop_dataset_requires_files():
    with pytest.raises(ValueError):
        crop_dataset([], batch_size=2)


def test_crop_dataset_static_shapes(crop_files):
    """Training batches have a static batch size (needed by distribution strategies); eval ones don't."""
    paths, _ = crop_files
    spec = crop_dataset(paths, 3, CROP_SECONDS, training=True).element_spec
    assert spec.shape.as_list() == [3, CROP]
    assert spec.dtype.name == "float32"
    spec = crop_dataset(paths, 3, CROP_SECONDS, training=False).element_spec
    assert spec.shape.as_list() == [None, CROP]


def test_fit_to_length_rejects_an_offset_past_the_end():
    with pytest.raises(ValueError, match="offset 8"):
        fit_to_length(np.arange(10.0), 4, offset=8)


def test_a_training_stream_of_only_bad_files_raises_instead_of_hanging(tmp_path):
    bad = [tmp_path / f"bad{i}.wav" for i in range(3)]
    for path in bad:
        path.write_bytes(b"not audio at all")
    dataset = crop_dataset([str(p) for p in bad], batch_size=1, crop_seconds=0.1, training=True)
    with pytest.raises(tf.errors.OpError, match="none of the 3 audio files could be used"):
        next(iter(dataset))


REAL_LIBRISPEECH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "librispeech"


@pytest.mark.skipif(not REAL_LIBRISPEECH.is_dir(), reason=f"real LibriSpeech sample absent: {REAL_LIBRISPEECH}")
def test_real_librispeech_sample_reads_splits_and_decodes():
    utterances = find_utterances([REAL_LIBRISPEECH])
    assert len(utterances) == 251 and len({u.speaker for u in utterances}) == 251  # one per speaker
    train, validation = split_by_speaker(utterances, 0.05, seed=0)
    assert 5 <= len(validation) <= 25 and not {u.speaker for u in train} & {u.speaker for u in validation}
    batch = next(iter(crop_dataset([u.path for u in validation], 4, crop_seconds=10.0, training=False)))
    assert batch.shape == (4, 160000)
    assert np.all(np.abs(batch.numpy()).max(axis=1) > 0.05)  # real speech in every crop


def test_a_txt_root_is_a_file_list_with_given_or_folder_speakers(tmp_path, write_audio):
    paths = [write_audio(f"{speaker}/{speaker}-{i}.wav", np.zeros(800)) for speaker in ("a", "b") for i in range(2)]
    listing = tmp_path / "train.txt"
    listing.write_text("\n".join(str(p) for p in paths[:3]) + f"\n{paths[3]}\tspeaker c\n\n")
    utterances = find_utterances([listing])
    assert [u.path for u in utterances] == [str(p) for p in paths]
    assert [u.speaker for u in utterances] == ["a", "a", "b", "speaker c"]
    chapters = [write_audio(f"LibriSpeech/x/19/{chapter}/19-{chapter}-0000.flac", np.zeros(800))
                for chapter in (198, 227)]
    listing.write_text("\n".join(map(str, chapters)))
    assert [u.speaker for u in find_utterances([listing])] == ["19", "19"]  # a speaker, not a chapter folder
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        find_utterances([tmp_path / "missing.txt"])
    listing.write_bytes(f"{paths[0]}\n{tmp_path}/caf\xe9.wav\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"train.txt:2: not utf-8 text"):
        find_utterances([listing])
