"""Tests of the emotion corpora readers (IEMOCAP, MSP-Podcast, RAVDESS) and their folds.

Each corpus is rebuilt in tmp_path in its exact on-disk layout, with 0.1 s clips, and with
distinct activation / valence / dominance values so that a swapped column is caught.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from keras_cpc.audio import SAMPLE_RATE
from keras_cpc.datasets import (
    EmotionUtterance,
    folds_by_speaker,
    iemocap,
    iemocap_folds,
    leave_one_group_out,
    msp_podcast,
    msp_podcast_split,
    ravdess,
    scaled_rating,
)
from keras_cpc.datasets.acted import crema_d, emodb
from keras_cpc.datasets.csv_corpus import csv_corpus
from keras_cpc.datasets.protocol import SplitError, read_corpus, split
from keras_cpc.datasets.ravdess import CATEGORIES, EMOTIONS

REAL_RAVDESS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ravdess"


def _write_clip(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.full(SAMPLE_RATE // 10, 0.1, np.float32), SAMPLE_RATE)


def _check_folds(folds, utterances, num_folds):
    """Every utterance tested exactly once, and no speaker on both sides of any fold."""
    assert len(folds) == num_folds
    tested = Counter(u.path for _, test in folds for u in test)
    assert tested == Counter(u.path for u in utterances)
    for train, test in folds:
        assert len(train) + len(test) == len(utterances)
        assert not {u.speaker for u in train} & {u.speaker for u in test}


def test_scaled_rating_maps_the_scale_linearly_onto_minus_one_to_one(caplog):
    assert [scaled_rating(x, 1, 5) for x in ("1", "2", "3", "4.5", "5")] == [-1.0, -0.5, 0.0, 0.75, 1.0]
    assert [scaled_rating(x, 1, 7) for x in ("1", "2.5", "4", "7")] == [-1.0, -0.5, 0.0, 1.0]
    assert not caplog.records
    assert scaled_rating("5.5", 1, 5, "a.txt:3") == 1.0 and scaled_rating("0", 1, 5) == -1.0  # clipped
    assert [r.getMessage() for r in caplog.records] == ["a.txt:3: rating 5.5 is outside the scale 1..5; clipped",
                                                        "label: rating 0 is outside the scale 1..5; clipped"]
    for bad in ("", "abc", "nan", "inf"):
        with pytest.raises(ValueError, match="not a finite number"):
            scaled_rating(bad, 1, 5)


# ===========================================================================================
# IEMOCAP
# ===========================================================================================

# dialog -> [(turn, category, (V, A, D) as written in the file)]; V, A, D all differ per turn.
IEMOCAP_LABELS = {
    1: {"Ses01F_impro01": [("Ses01F_impro01_F000", "neu", (2.0, 3.5, 4.0)),
                           ("Ses01F_impro01_M000", "ang", (1.5, 4.5, 3.0))]},
    2: {"Ses02M_script01_1": [("Ses02M_script01_1_M000", "hap", (4.5, 3.0, 2.0)),
                              ("Ses02M_script01_1_F001", "xxx", (3.0, 1.0, 5.0))]},
    3: {"Ses03F_impro02": [("Ses03F_impro02_F000", "sad", (1.0, 2.0, 1.5))]},
    4: {"Ses04M_impro03": [("Ses04M_impro03_M002", "fru", (2.5, 4.0, 3.5))]},
    5: {"Ses05M_script01_1b": [("Ses05M_script01_1b_F000", "exc", (4.0, 5.0, 3.0))]},
}


def _emo_evaluation(turns) -> str:
    """A `<dialog>.txt` as IEMOCAP writes it: header, summary lines, evaluator lines, blank lines."""
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for i, (turn, category, (v, a, d)) in enumerate(turns):
        lines += [
            f"[{6.2901 + 3 * i:.4f} - {8.2357 + 3 * i:.4f}]\t{turn}\t{category}\t[{v:.4f}, {a:.4f}, {d:.4f}]",
            "C-E2:\tNeutral;\t()",
            "C-F1:\tAnger; Frustration;\t(curious)",
            "A-E3:\tval 3; act 2; dom  2;\t()",
            "A-F1:\tval 3; act 2; dom  1;\t(mildly [aggravated])",
            "",
        ]
    return "\n".join(lines) + "\n"


def build_iemocap(base: Path) -> Path:
    """`<base>/IEMOCAP_full_release/Session<N>/{dialog/EmoEvaluation,sentences/wav}` with the labels above."""
    corpus = base / "IEMOCAP_full_release"
    for number, dialogs in IEMOCAP_LABELS.items():
        session = corpus / f"Session{number}"
        evaluations = session / "dialog" / "EmoEvaluation"
        for dialog, turns in dialogs.items():
            evaluations.mkdir(parents=True, exist_ok=True)
            (evaluations / f"{dialog}.txt").write_text(_emo_evaluation(turns))
            for turn, _, _ in turns:
                _write_clip(session / "sentences" / "wav" / dialog / f"{turn}.wav")
            # Per-evaluator files and a macOS resource fork, which the reader must not take for labels.
            (evaluations / "Categorical").mkdir(exist_ok=True)
            (evaluations / "Categorical" / f"{dialog}_e1_cat.txt").write_text(f"[bogus]\t{dialog}\n")
            (evaluations / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07\xff[\xfe")
    (corpus / "Documentation").mkdir()
    return corpus


def _expected_iemocap(corpus: Path) -> list[EmotionUtterance]:
    out = []
    for number, dialogs in IEMOCAP_LABELS.items():
        for dialog, turns in dialogs.items():
            for turn, category, (v, a, d) in turns:
                path = corpus / f"Session{number}" / "sentences" / "wav" / dialog / f"{turn}.wav"
                speaker = turn[:5] + turn.rsplit("_", 1)[1][0]
                out.append(EmotionUtterance(str(path), speaker, (a - 3) / 2, (v - 3) / 2, (d - 3) / 2,
                                            category, session=number))
    return out


def test_iemocap_reads_summary_lines_as_valence_activation_dominance(tmp_path):
    corpus = build_iemocap(tmp_path)
    utterances = iemocap(corpus)
    assert utterances == _expected_iemocap(corpus)
    first = utterances[0]  # [2.0, 3.5, 4.0] = V, A, D on 1..5
    assert (first.valence, first.activation, first.dominance) == (-0.5, 0.25, 0.5)
    speakers = ["Ses01F", "Ses01M", "Ses02M", "Ses02F", "Ses03F", "Ses04M", "Ses05F"]
    assert [u.speaker for u in utterances] == speakers
    assert iemocap(tmp_path) == utterances  # the folder holding IEMOCAP_full_release works too
    renamed = corpus.rename(tmp_path / "IEMOCAP")  # and the corpus folder under another name
    assert iemocap(renamed) == [replace(u, path=u.path.replace(str(corpus), str(renamed))) for u in utterances]


def test_iemocap_clips_a_rating_outside_its_scale_with_a_warning_naming_file_and_line(tmp_path, caplog):
    corpus = build_iemocap(tmp_path)
    file = corpus / "Session3" / "dialog" / "EmoEvaluation" / "Ses03F_impro02.txt"
    file.write_text(file.read_text().replace("1.5000]", "5.5000]"))  # dominance of its one summary line
    assert [u.dominance for u in iemocap(corpus) if u.session == 3] == [1.0]
    assert caplog.messages == [f"{file}:3: rating 5.5000 is outside the scale 1..5; clipped"]


def test_iemocap_folds_hold_out_one_session_each(tmp_path):
    utterances = iemocap(build_iemocap(tmp_path))
    folds = iemocap_folds(utterances)
    _check_folds(folds, utterances, 5)
    for number, (train, test) in enumerate(folds, start=1):
        assert {u.session for u in test} == {number}
        assert number not in {u.session for u in train}
    with pytest.raises(ValueError, match="session"):
        iemocap_folds([EmotionUtterance("a.wav", "s", 0.0, 0.0, 0.0, "neu")])


PARSE = "cannot parse summary line"


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("[6.2901 - 8.2357]\tSes01F_impro01_F009\tneu\t[2.5000, 2.5000]", PARSE),  # dominance missing
        ("[6.2901 - 8.2357]\tSes01F_impro01_F009\tneu\t[2.5000, high, 2.5000]", PARSE),  # not a number
        ("[6.2901 - 8.2357]\tSes01F_impro01_F009\tneu", PARSE),  # no ratings
        ("[6.2901 - 8.2357]\tSes01F_impro01\tneu\t[2.5000, 2.5000, 2.5000]", PARSE),  # no turn number
        # a turn of another session would put its speaker in two folds
        ("[6.2901 - 8.2357]\tSes02F_impro01_F009\tneu\t[2.5000, 2.5000, 2.5000]",
         "Ses02F_impro01_F009 is not a turn of Session1"),
    ],
)
def test_iemocap_bad_summary_line_names_file_and_line(tmp_path, bad_line, problem):
    corpus = build_iemocap(tmp_path)
    file = corpus / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    lines = file.read_text().splitlines()
    lines.insert(9, bad_line)  # line 10, after the second turn's summary line
    file.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=problem) as info:
        iemocap(corpus)
    assert f"{file}:10:" in str(info.value)


def test_iemocap_dialog_file_without_summary_lines_is_named(tmp_path):
    corpus = build_iemocap(tmp_path)
    file = corpus / "Session3" / "dialog" / "EmoEvaluation" / "Ses03F_impro02.txt"
    file.write_text("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n")
    with pytest.raises(ValueError, match="no summary lines") as info:
        iemocap(corpus)
    assert str(file) in str(info.value)


def test_iemocap_validation_is_a_whole_session_of_the_training_folds(tmp_path):
    utterances = iemocap(build_iemocap(tmp_path))
    for fold in range(5):
        for seed in range(4):
            train, validation, test = split("iemocap", utterances, fold, 5, 0.2, seed)
            sessions = [{u.session for u in part} for part in (train, validation, test)]
            assert sessions[2] == {fold + 1} and len(sessions[1]) == 1  # round(0.2 * 4 sessions)
            assert not sessions[0] & sessions[1] and len(sessions[0]) == 3
            assert len(train) + len(validation) + len(test) == len(utterances)


def test_iemocap_evaluation_file_that_is_not_utf8_names_file_and_line(tmp_path):
    corpus = build_iemocap(tmp_path)
    file = corpus / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    lines = file.read_bytes().split(b"\n")
    lines[3] += b" caf\xe9"  # a Latin-1 byte on line 4
    file.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match="not utf-8 text") as info:
        iemocap(corpus)
    assert f"{file}:4:" in str(info.value)


def test_iemocap_labelled_utterance_without_wav_is_named(tmp_path):
    corpus = build_iemocap(tmp_path)
    wav = corpus / "Session2" / "sentences" / "wav" / "Ses02M_script01_1" / "Ses02M_script01_1_F001.wav"
    wav.unlink()
    with pytest.raises(FileNotFoundError, match="Ses02M_script01_1_F001") as info:
        iemocap(corpus)
    assert str(wav) in str(info.value) and "Ses02M_script01_1.txt:" in str(info.value)


def test_iemocap_missing_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="IEMOCAP folder not found") as info:
        iemocap(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value)
    with pytest.raises(FileNotFoundError, match="no Session<N> folders"):
        iemocap(tmp_path)
    (tmp_path / "IEMOCAP_full_release").mkdir()
    with pytest.raises(FileNotFoundError, match="no Session<N> folders") as info:
        iemocap(tmp_path)
    assert str(tmp_path / "IEMOCAP_full_release") in str(info.value)
    (tmp_path / "IEMOCAP_full_release" / "Session1" / "dialog").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="EmoEvaluation folder not found"):
        iemocap(tmp_path)


# ===========================================================================================
# MSP-Podcast
# ===========================================================================================

MSP_HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"
MSP_ROWS = [  # FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set
    ("MSP-PODCAST_0001_0008.wav", "N", "5.5", "2.5", "4.0", "127", "Female", "Train"),
    ("MSP-PODCAST_0001_0019.wav", "A", "7.0", "1.0", "6.4", "127", "Female", "Train"),
    ("MSP-PODCAST_0002_0033.wav", "H", "4.6", "6.1", "3.1", "23", "Male", "Development"),
    ("MSP-PODCAST_0003_0002.wav", "S", "2.2", "3.4", "1.9", "Unknown", "Unknown", "Test1"),
    ("MSP-PODCAST_0004_0100.wav", "X", "3.0", "4.0", "5.2", "981", "Male", "Test2"),
]


def build_msp_podcast(root: Path, rows=MSP_ROWS, header=MSP_HEADER) -> Path:
    """`<root>/Labels/labels_consensus.csv` of `header` and `rows`, and a clip per file of MSP_ROWS."""
    (root / "Labels").mkdir(parents=True)
    lines = [header] + [",".join(row) for row in rows]
    (root / "Labels" / "labels_consensus.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for row in MSP_ROWS:
        _write_clip(root / "Audios" / row[0])
    return root


def test_msp_podcast_reads_consensus_labels_and_splits(tmp_path):
    root = build_msp_podcast(tmp_path)
    utterances = msp_podcast(root)
    expected = [
        EmotionUtterance(str(root / "Audios" / name), speaker, (float(act) - 4) / 3, (float(val) - 4) / 3,
                         (float(dom) - 4) / 3, category, split=split.lower())
        for name, category, act, val, dom, speaker, _, split in MSP_ROWS
    ]
    expected[3] = replace(expected[3], speaker="Unknown:0003")  # "Unknown" of podcast 0003
    assert utterances == expected
    assert (utterances[0].activation, utterances[0].valence, utterances[0].dominance) == (0.5, -0.5, 0.0)
    splits = msp_podcast_split(utterances)
    assert list(splits) == ["train", "development", "test1", "test2"]
    assert [[Path(u.path).name for u in splits[s]] for s in splits] == [
        ["MSP-PODCAST_0001_0008.wav", "MSP-PODCAST_0001_0019.wav"],
        ["MSP-PODCAST_0002_0033.wav"],
        ["MSP-PODCAST_0003_0002.wav"],
        ["MSP-PODCAST_0004_0100.wav"],
    ]


def test_msp_podcast_unknown_speakers_are_one_speaker_per_podcast(tmp_path):
    rows = [row[:5] + ("Unknown",) + row[6:] if i in (0, 4) else row for i, row in enumerate(MSP_ROWS)]
    speakers = [u.speaker for u in msp_podcast(build_msp_podcast(tmp_path, rows))]
    assert speakers == ["Unknown:0001", "127", "23", "Unknown:0003", "Unknown:0004"]


def test_msp_podcast_columns_may_come_in_any_order_after_a_bom(tmp_path):
    order = [7, 5, 0, 4, 3, 2, 1, 6]
    header = "\ufeff" + ",".join(MSP_HEADER.split(",")[i] for i in order) + ",EmoAct_SD"
    rows = [tuple(row[i] for i in order) + ("0.5",) for row in MSP_ROWS]
    reordered = msp_podcast(build_msp_podcast(tmp_path / "a", rows, header))
    plain = msp_podcast(build_msp_podcast(tmp_path / "b"))
    moved = [replace(u, path=u.path.replace(str(tmp_path / "a"), str(tmp_path / "b"))) for u in reordered]
    assert moved == plain


def test_msp_podcast_older_label_file_name_and_spaced_header(tmp_path):
    """Releases 1.6-1.8 name the file `labels_concensus.csv`; spaces after the header's commas are ignored."""
    plain = msp_podcast(build_msp_podcast(tmp_path / "a"))
    root = build_msp_podcast(tmp_path / "b", header=MSP_HEADER.replace(",", ", "))
    (root / "Labels" / "labels_consensus.csv").rename(root / "Labels" / "labels_concensus.csv")
    older = msp_podcast(root)
    assert [replace(u, path=u.path.replace(str(tmp_path / "b"), str(tmp_path / "a"))) for u in older] == plain


def test_msp_podcast_later_splits_get_their_own_key():
    utterances = [EmotionUtterance("a.wav", "1", 0.0, 0.0, 0.0, "N", split="test3")]
    assert msp_podcast_split(utterances) == {"train": [], "development": [], "test1": [], "test2": [],
                                             "test3": utterances}
    with pytest.raises(ValueError, match="no MSP-Podcast split"):
        msp_podcast_split([EmotionUtterance("a.wav", "1", 0.0, 0.0, 0.0, "N")])


@pytest.mark.parametrize(
    "column, value, problem",
    [("EmoVal", "high", "'high' is not a finite number"), ("EmoDom", "", "empty EmoDom"),
     ("Split_Set", " ", "empty Split_Set")],
)
def test_msp_podcast_bad_cell_names_file_and_line(tmp_path, column, value, problem):
    index = MSP_HEADER.split(",").index(column)
    rows = [row[:index] + (value,) + row[index + 1 :] if i == 2 else row for i, row in enumerate(MSP_ROWS)]
    root = build_msp_podcast(tmp_path, rows)
    with pytest.raises(ValueError, match=problem) as info:
        msp_podcast(root)
    assert f"{root / 'Labels' / 'labels_consensus.csv'}:4:" in str(info.value)  # header + 2 rows before


def test_msp_podcast_clips_a_rating_outside_its_scale_with_a_warning_naming_file_and_line(tmp_path, caplog):
    rows = [row[:2] + ("7.5",) + row[3:] if i == 1 else row for i, row in enumerate(MSP_ROWS)]
    root = build_msp_podcast(tmp_path, rows)
    assert msp_podcast(root)[1].activation == 1.0
    labels = root / "Labels" / "labels_consensus.csv"
    assert caplog.messages == [f"{labels}:3: rating 7.5 is outside the scale 1..7; clipped"]


def test_msp_podcast_missing_column_short_row_and_audio_are_named(tmp_path):
    labels = tmp_path / "Labels" / "labels_consensus.csv"
    header = MSP_HEADER.replace("EmoDom,", "")
    rows = [row[:4] + row[5:] for row in MSP_ROWS]
    build_msp_podcast(tmp_path, rows, header)
    with pytest.raises(ValueError, match="missing column.*EmoDom") as info:
        msp_podcast(tmp_path)
    assert f"{labels}:1:" in str(info.value)

    labels.write_text(MSP_HEADER + "\n" + ",".join(MSP_ROWS[0]) + "\n" + ",".join(MSP_ROWS[1][:4]) + "\n")
    with pytest.raises(ValueError, match="empty EmoDom, SpkrID, Split_Set") as info:
        msp_podcast(tmp_path)
    assert f"{labels}:3:" in str(info.value)

    unrecorded = ("MSP-PODCAST_9999_0001.wav",) + MSP_ROWS[0][1:]
    labels.write_text(MSP_HEADER + "\n" + ",".join(MSP_ROWS[0]) + "\n" + ",".join(unrecorded) + "\n")
    with pytest.raises(FileNotFoundError, match="MSP-PODCAST_9999_0001.wav") as info:
        msp_podcast(tmp_path)
    assert f"{labels}:3" in str(info.value)

    labels.write_bytes((MSP_HEADER + "\n" + ",".join(MSP_ROWS[0]) + "\n").encode() + b"caf\xe9\n")
    with pytest.raises(ValueError, match="not utf-8-sig text") as info:
        msp_podcast(tmp_path)
    assert f"{labels}:3:" in str(info.value)

    huge = '"unterminated,' + "x" * 200_000  # over csv's field size limit
    labels.write_text(MSP_HEADER + "\n" + ",".join(MSP_ROWS[0]) + "\n" + huge + "\n")
    with pytest.raises(ValueError, match="not CSV.*field larger than field limit") as info:
        msp_podcast(tmp_path)
    assert f"{labels}:" in str(info.value)

    labels.unlink()
    with pytest.raises(FileNotFoundError, match="labels_consensus.csv.*not found.*labels_concensus.csv"):
        msp_podcast(tmp_path)


# ===========================================================================================
# RAVDESS
# ===========================================================================================


def build_ravdess(root: Path, actors=("01", "02", "03", "04")) -> Path:
    """`<root>/Actor_AA/03-01-EE-II-01-01-AA.wav`: every emotion and intensity, one statement."""
    for actor in actors:
        for emotion in EMOTIONS:
            for intensity in ("01",) if emotion == "01" else ("01", "02"):
                _write_clip(root / f"Actor_{actor}" / f"03-01-{emotion}-{intensity}-01-01-{actor}.wav")
    (root / "README.md").write_text("RAVDESS speech\n")
    return root


def test_ravdess_maps_categories_through_the_table_scaled_by_intensity(tmp_path):
    root = build_ravdess(tmp_path / "ravdess")
    utterances = ravdess(root)
    assert len(utterances) == 4 * 15  # neutral has no strong intensity
    assert {u.speaker for u in utterances} == {"Actor_01", "Actor_02", "Actor_03", "Actor_04"}
    by_name = {Path(u.path).name: u for u in utterances}
    angry_strong, angry_normal = by_name["03-01-05-02-01-01-03.wav"], by_name["03-01-05-01-01-01-03.wav"]
    assert (angry_strong.valence, angry_strong.activation, angry_strong.dominance) == (-0.51, 0.59, 0.25)
    assert angry_normal.valence == pytest.approx(-0.51 * 0.75)
    assert angry_normal.activation == pytest.approx(0.59 * 0.75)
    assert angry_normal.dominance == pytest.approx(0.25 * 0.75)
    assert (angry_strong.emotion, angry_strong.speaker, angry_strong.split) == ("angry", "Actor_03", None)
    calm = by_name["03-01-02-02-01-01-01.wav"]
    assert (calm.emotion, calm.valence, calm.activation, calm.dominance) == ("calm", 0.68, -0.46, 0.06)
    surprised = by_name["03-01-08-02-01-01-02.wav"]
    assert (surprised.valence, surprised.activation, surprised.dominance) == (0.40, 0.67, -0.13)
    neutral = by_name["03-01-01-01-01-01-04.wav"]
    assert (neutral.emotion, neutral.valence, neutral.activation, neutral.dominance) == ("neutral", 0, 0, 0)

    unscaled = {Path(u.path).name: u for u in ravdess(root, normal_intensity=1.0)}
    assert unscaled["03-01-05-01-01-01-03.wav"].activation == 0.59
    with pytest.raises(ValueError, match="normal_intensity"):
        ravdess(root, normal_intensity=1.5)


@pytest.mark.parametrize(
    "name",
    [
        "03-01-09-01-01-01-01.wav",  # no emotion 09
        "03-01-03-03-01-01-01.wav",  # no intensity 03
        "03-02-03-01-01-01-01.wav",  # song, not speech
        "03-01-03-01-01-01.wav",  # actor missing
        "happy.flac",
    ],
)
def test_ravdess_misnamed_audio_file_is_named(tmp_path, name):
    root = build_ravdess(tmp_path / "ravdess", actors=("01",))
    _write_clip(root / "Actor_01" / name)
    with pytest.raises(ValueError, match="03-01-EE-II-SS-RR-AA") as info:
        ravdess(root)
    assert str(root / "Actor_01" / name) in str(info.value)


def test_ravdess_clip_found_twice_is_named(tmp_path):
    """Some copies hold both `Actor_XX/` and `audio_speech_actors_01-24/Actor_XX/`: each clip would count twice."""
    root = build_ravdess(tmp_path / "ravdess", actors=("01",))
    first = root / "Actor_01" / "03-01-05-02-01-01-01.wav"
    copy = root / "audio_speech_actors_01-24" / "Actor_01" / first.name
    _write_clip(copy)
    with pytest.raises(ValueError, match="the same RAVDESS clip") as info:
        ravdess(root)
    assert str(copy) in str(info.value) and str(first) in str(info.value)


def test_ravdess_clip_filed_under_another_actor_is_named(tmp_path):
    """Actor 05's clip under `Actor_01/` would silently add a speaker to the wrong side of a fold."""
    root = build_ravdess(tmp_path / "ravdess", actors=("01",))
    stray = root / "Actor_01" / "03-01-05-02-01-01-05.wav"
    _write_clip(stray)
    with pytest.raises(ValueError, match="Actor_05.*Actor_01") as info:
        ravdess(root)
    assert str(stray) in str(info.value)


def test_ravdess_missing_or_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="RAVDESS folder not found"):
        ravdess(tmp_path / "absent")
    (tmp_path / "Actor_01").mkdir()
    with pytest.raises(FileNotFoundError, match="no .wav"):
        ravdess(tmp_path)


@pytest.mark.slow
def test_real_ravdess_reads_1440_clips_of_24_actors_into_4_folds_of_6():
    if not REAL_RAVDESS.is_dir():
        pytest.skip(f"real RAVDESS not found at {REAL_RAVDESS} (../shared/data/ravdess)")
    utterances = ravdess(REAL_RAVDESS)
    assert len(utterances) == 1440 and len({u.speaker for u in utterances}) == 24
    counts = Counter(u.emotion for u in utterances)
    assert counts == {name: 96 if name == "neutral" else 192 for name, _ in EMOTIONS.values()}
    assert all(-1 <= x <= 1 for u in utterances for x in (u.activation, u.valence, u.dominance))
    folds = folds_by_speaker(utterances, 4, seed=0)
    _check_folds(folds, utterances, 4)
    assert [len({u.speaker for u in test}) for _, test in folds] == [6, 6, 6, 6]
    assert [len(test) for _, test in folds] == [360] * 4


# ===========================================================================================
# EMO-DB and CREMA-D, named clips of RAVDESS's categories
# ===========================================================================================


def test_emodb_labels_each_clip_with_its_categorys_point_and_leaves_boredom_out(tmp_path, caplog):
    names = ["03a01Fa", "03a02Wb", "10b10Nc", "16b09Ad", "11a05Ea", "12a07Ta", "03a04La", "08b01Lb"]
    for name in names:
        _write_clip(tmp_path / "emodb" / "wav" / f"{name}.wav")
    utterances = emodb(tmp_path / "emodb")
    assert [Path(u.path).stem for u in utterances] == sorted(set(names) - {"03a04La", "08b01Lb"})
    assert "2 boredom clip(s) left out (RAVDESS's table has no point for boredom)" in caplog.text
    by_name = {Path(u.path).stem: u for u in utterances}
    valence, activation, dominance = EMOTIONS["03"][1]  # happy
    assert by_name["03a01Fa"] == EmotionUtterance(str(tmp_path / "emodb" / "wav" / "03a01Fa.wav"), "03", activation,
                                                  valence, dominance, "happy", sentence=1)
    others = ("03a02Wb", "10b10Nc", "16b09Ad", "11a05Ea", "12a07Ta")
    assert [(by_name[n].emotion, by_name[n].sentence) for n in others] == [
        ("angry", 2), ("neutral", 10), ("fearful", 9), ("disgust", 4), ("sad", 5)]
    assert by_name["10b10Nc"].speaker == "10"
    assert all((u.activation, u.valence, u.dominance) == CATEGORIES[u.emotion] for u in utterances)
    assert read_corpus("emodb", str(tmp_path)) == utterances


def test_crema_d_labels_each_clip_with_its_categorys_point_whatever_its_intensity(tmp_path):
    names = ["1001_DFA_ANG_XX", "1001_IEO_HAP_LO", "1091_WSI_NEU_XX", "1002_IEO_SAD_HI", "1002_TIE_FEA_XX",
             "1003_ITH_DIS_MD", "1040_ITH_SAD_X"]  # the last as older copies name it
    for name in names:
        _write_clip(tmp_path / "AudioWAV" / f"{name}.wav")
    by_name = {Path(u.path).stem: u for u in crema_d(tmp_path / "AudioWAV")}
    assert sorted(by_name) == sorted(names)
    assert [(u.speaker, u.emotion, u.sentence) for u in (by_name[n] for n in names)] == [
        ("1001", "angry", 9), ("1001", "happy", 1), ("1091", "neutral", 12), ("1002", "sad", 1),
        ("1002", "fearful", 2), ("1003", "disgust", 8), ("1040", "sad", 8)]
    assert all((u.activation, u.valence, u.dominance) == CATEGORIES[u.emotion] for u in by_name.values())
    assert read_corpus("crema-d", str(tmp_path)) == crema_d(tmp_path / "AudioWAV")


@pytest.mark.parametrize("reader, name, problem", [
    (emodb, "03a03Fa", r"not named as EMO-DB names a clip \(SSTTTEv, e.g. 03a01Fa\)"),  # no text a03
    (emodb, "03a01Xa", "not named as EMO-DB names a clip"),
    (crema_d, "1001_DFA_ANG", r"not named as CREMA-D names a clip \(AAAA_SSS_EEE_II, e.g. 1001_DFA_ANG_XX\)"),
    (crema_d, "1001_ABC_ANG_XX", "not named as CREMA-D names a clip"),
])
def test_a_misnamed_clip_of_emodb_or_crema_d_is_named(tmp_path, reader, name, problem):
    _write_clip(tmp_path / f"{name}.wav")
    with pytest.raises(ValueError, match=f"{name}.wav: {problem}"):
        reader(tmp_path)


def test_emodb_or_crema_d_missing_copied_twice_or_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: CREMA-D folder not found"):
        crema_d(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no .wav"):
        emodb(tmp_path)
    for copy in ("wav", "copy/wav"):
        _write_clip(tmp_path / copy / "03a01Fa.wav")
    with pytest.raises(ValueError, match="the same EMO-DB clip as .*wav/03a01Fa.wav \\(two copies"):
        emodb(tmp_path)


# ===========================================================================================
# a corpus described by a CSV file
# ===========================================================================================


SAMPLE_RAVDESS = Path(__file__).resolve().parents[1] / "assets" / "samples" / "ravdess"


def test_a_csv_corpus_of_categories_reads_as_ravdess_does(tmp_path):
    """RAVDESS's strong clips written as CSV rows of speaker, path, emotion and sentence (the sentence decoded from
    the file name here): the same utterances, in the same folds, as the RAVDESS reader's."""
    expected = [u for u in ravdess(SAMPLE_RAVDESS) if Path(u.path).stem.split("-")[3] == "02"]
    rows = ["speaker,path,emotion,sentence"] + [
        f"{u.speaker},{u.path},{u.emotion},{int(Path(u.path).stem.split('-')[4])}" for u in expected]
    (tmp_path / "strong.csv").write_text("\n".join(rows) + "\n")
    corpus = read_corpus("csv", str(tmp_path / "strong.csv"))
    assert corpus == expected
    assert split("csv", corpus, 0, 2, 0.5, 0) == split("ravdess", expected, 0, 2, 0.5, 0)


def _write_table(tmp_path: Path, text: str, clips: tuple[str, ...] = ("a.wav", "b.wav")) -> Path:
    for clip in clips:
        _write_clip(tmp_path / clip)
    (tmp_path / "labels.csv").write_text(text)
    return tmp_path / "labels.csv"


def test_a_csv_corpus_takes_ratings_or_categories_and_clips_ratings_outside_the_scale(tmp_path, caplog):
    table = _write_table(tmp_path, "\ufeffpath , speaker,activation,valence,dominance,emotion\n"
                                   "a.wav,s1,0.5,-0.25,1.5,anger\n"
                                   f"{tmp_path / 'b.wav'},s2,,,,sad\n")
    first, second = csv_corpus(table)
    assert first == EmotionUtterance(str(tmp_path / "a.wav"), "s1", 0.5, -0.25, 1.0, "anger")
    assert "labels.csv:2: rating 1.5 is outside the scale -1..1; clipped" in caplog.text
    valence, activation, dominance = EMOTIONS["04"][1]
    assert second == EmotionUtterance(str(tmp_path / "b.wav"), "s2", activation, valence, dominance, "sad")
    assert CATEGORIES["sad"] == (activation, valence, dominance) and len(CATEGORIES) == 8


@pytest.mark.parametrize("text, error, problem", [
    ("path,activation,valence,dominance\na.wav,0,0,0\n", ValueError, r"labels.csv:1: missing column\(s\) speaker$"),
    ("path,speaker,activation\na.wav,s,0\n", ValueError,
     r"labels.csv:1: missing column\(s\) activation, valence, dominance or emotion"),
    ("path,speaker,emotion\n", ValueError, "labels.csv: no rows under the header"),
    ("path,speaker,emotion\na.wav,,sad\n", ValueError, "labels.csv:2: empty speaker"),
    ("path,speaker,emotion\na.wav,s,sad\nb.wav,s,happy\nsub/../a.wav,s,sad\n", ValueError,
     "labels.csv:4: sub/../a.wav is listed twice \\(first on line 2\\)"),
    ("path,speaker, path,emotion\na.wav,s,b.wav,sad\n", ValueError, "labels.csv:1: column\\(s\\) path named more"),
    ("path,speaker,activation,valence,dominance\na.wav,s,0,5,-0,25,0\n", ValueError,
     "labels.csv:2: 7 cells under a header of 5 \\(a decimal comma"),
    ("path,speaker,emotion\nc.wav,s,sad\n", FileNotFoundError, "c.wav: audio of .*labels.csv:2 not found"),
    ("path,speaker,activation,valence,dominance\na.wav,s,0.1,,0.2\n", ValueError,
     "labels.csv:2: valence empty, activation, dominance given: give all three"),
    ("path,speaker,activation,valence,dominance\na.wav,s,0.1,high,0.2\n", ValueError,
     "labels.csv:2: rating 'high' is not a finite number"),
    ("path,speaker,emotion\na.wav,s,Sad\n", ValueError,
     "labels.csv:2: no dimensions, and emotion 'Sad' is not one of neutral, calm, happy"),
    ("path,speaker,emotion,sentence\na.wav,s,sad,one\n", ValueError,
     "labels.csv:2: sentence 'one' is not a whole number"),
    ('path,speaker,emotion\n"a.wav,s,sad\n', ValueError, "labels.csv:\\d: not CSV \\(unexpected end of data\\)"),
])
def test_a_bad_csv_corpus_names_its_file_line_and_problem(tmp_path, text, error, problem):
    with pytest.raises(error, match=problem):
        csv_corpus(_write_table(tmp_path, text))


def test_a_missing_csv_corpus_or_one_not_utf8_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.csv: corpus CSV not found"):
        csv_corpus(tmp_path / "nothing.csv")
    (tmp_path / "labels.csv").write_bytes(b"path,speaker,emotion\n\xe9.wav,s,sad\n")
    with pytest.raises(ValueError, match="labels.csv:2: not utf-8-sig text"):
        csv_corpus(tmp_path / "labels.csv")
    with pytest.raises(SplitError, match="csv has no fixed sentences"):
        split("csv", csv_corpus(_write_table(tmp_path, "path,speaker,emotion\na.wav,s,sad\nb.wav,t,sad\n")),
              0, 2, 0.5, 0, train_sentence=1)


# ===========================================================================================
# folds
# ===========================================================================================


def _speakers(counts: dict[str, int]) -> list[EmotionUtterance]:
    return [
        EmotionUtterance(f"{speaker}/{i}.wav", speaker, 0.0, 0.0, 0.0, "neu")
        for speaker, count in counts.items()
        for i in range(count)
    ]


def test_folds_by_speaker_are_speaker_independent_balanced_and_deterministic():
    equal = _speakers({f"Actor_{i:02d}": 60 for i in range(1, 25)})
    folds = folds_by_speaker(equal, 4, seed=0)
    _check_folds(folds, equal, 4)
    assert [len({u.speaker for u in test}) for _, test in folds] == [6, 6, 6, 6]
    assert folds == folds_by_speaker(list(equal), 4, seed=0)
    test_speakers = [{u.speaker for u in test} for _, test in folds]
    assert [{u.speaker for u in test} for _, test in folds_by_speaker(equal, 4, seed=1)] != test_speakers

    rng = np.random.default_rng(0)
    uneven_counts = {f"spk{i}": int(n) for i, n in enumerate(rng.integers(1, 40, 30))}
    uneven = _speakers(uneven_counts)
    for seed in range(5):
        folds = folds_by_speaker(uneven, 5, seed)
        _check_folds(folds, uneven, 5)
        sizes = [len(test) for _, test in folds]
        assert max(sizes) - min(sizes) <= max(uneven_counts.values())


def test_folds_need_enough_speakers_and_groups():
    utterances = _speakers({"a": 2, "b": 3, "c": 1})
    with pytest.raises(ValueError, match="3 speakers cannot fill 4"):
        folds_by_speaker(utterances, 4)
    with pytest.raises(ValueError, match="at least 2 folds"):
        folds_by_speaker(utterances, 1)
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_group_out(utterances, lambda u: "one")
    folds = leave_one_group_out(utterances, lambda u: u.speaker)
    assert [[u.path for u in test] for _, test in folds] == [
        ["a/0.wav", "a/1.wav"],
        ["b/0.wav", "b/1.wav", "b/2.wav"],
        ["c/0.wav"],
    ]
