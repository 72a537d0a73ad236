"""The app's pieces without a window: category table, speech gate, entry point, analyze, no TensorFlow."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
import pytest

from app.analyze import build_parser as analyze_parser, main as analyze_main
from app.engine.analysis import analyze_file, speaker_calibrations
from app.engine.bundled import DEFAULT_MODEL, SAMPLE_CLIPS
from app.engine.categories import CATEGORIES, nearest_category, ravdess_category
from app.engine.gating import SILENCE_DB, SpeechGate, level_db
from app.engine.streaming import DIMENSIONS, ModelError, Prediction, StreamingRecognizer
from app.engine.trajectory import summarize, summary_estimates, written_beside
from keras_cpc.loudness import LevelSettings, frontend_config, speech_level

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "assets" / "models" / "emotion"


def test_category_table_is_the_one_ravdess_is_labelled_with():
    from keras_cpc.datasets.ravdess import EMOTIONS

    assert CATEGORIES == dict(EMOTIONS.values())
    for code, (name, _) in EMOTIONS.items():
        assert ravdess_category(f"Actor_02/03-01-{code}-02-01-01-02.flac") == name


def test_nearest_category():
    for name, (valence, activation, dominance) in CATEGORIES.items():
        assert nearest_category(activation, valence, dominance) == name
    assert nearest_category(activation=0.7, valence=-0.6, dominance=0.3) == "angry"
    assert nearest_category(activation=-0.3, valence=-0.5, dominance=-0.2) == "sad"
    assert nearest_category(activation=-0.5, valence=0.5, dominance=0.0) == "calm"
    assert nearest_category(activation=0.05, valence=0.0, dominance=-0.05) == "neutral"


def test_level_db():
    sine = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert level_db(sine) == pytest.approx(-3.01, abs=0.01)
    assert level_db(0.01 * sine) == pytest.approx(-43.01, abs=0.01)
    assert level_db(np.zeros(100)) == level_db(np.zeros(0)) == SILENCE_DB


def test_gate_opens_at_the_level_and_closes_only_after_a_quiet_hangover():
    gate = SpeechGate(threshold_db=-40, hysteresis_db=6, hangover=3)
    levels = [-60, -41, -39, -45, -60, -60, -45, -60, -60, -60, -41, -39]
    assert [gate.update(level) for level in levels] == [
        False, False,  # below the threshold
        True,  # opens
        True, True, True,  # -45 is in the hysteresis band; two quiet hops are not enough
        True,  # the band holds the state and breaks the quiet run
        True, True, False,  # the third quiet hop in a row closes it
        False,  # the band does not reopen it
        True]
    gate.reset()
    assert not gate.is_open


def test_a_trajectory_is_summarised_by_its_full_window_estimates_else_its_last():
    gated = (math.nan,) * 3
    trajectory = [Prediction(0.1, 2.0, 2.0, 2.0), Prediction(0.5, 0.1, 0.2, 0.3), Prediction(1.0, 0.3, 0.4, 0.5),
                  Prediction(1.1, *gated)]
    np.testing.assert_allclose(summary_estimates(trajectory, window_seconds=0.5), [[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]])
    np.testing.assert_allclose(summary_estimates(trajectory, window_seconds=5.0), [[0.3, 0.4, 0.5]])
    assert summary_estimates([Prediction(0.1, *gated)], window_seconds=5.0).shape == (0, 3)
    assert summarize(trajectory, 0.5) == ("1.1 s; mean of 2 full-window estimates: activation +0.20, valence +0.30, "
                                          f"dominance +0.40; nearest {nearest_category(0.2, 0.3, 0.4)}")
    assert summarize(trajectory, 5.0).startswith("1.1 s; last estimate: activation +0.30, valence +0.40")
    assert summarize([Prediction(0.1, *gated)], 5.0) == "0.1 s, no speech above the gate"


def test_the_sample_clips_are_summarised_by_the_prediction_that_hears_all_of_each():
    """A clip shorter than the window is summarised by its last prediction, as `training.heldout`
    scores it (the actor calibrated with their clips' level, as `app.analyze` calibrates a folder).
    The mean over every hop, the first ones of which hear a fraction of a second of leading silence,
    named all eight of these clips "surprised"; uncalibrated, the shipped model names them all "disgust"."""
    recognizer = StreamingRecognizer(SHIPPED / "int8")
    clips = sorted(SAMPLE_CLIPS.glob("*.flac"))
    (calibration,) = speaker_calibrations(recognizer, clips).values()  # one actor: one speaker
    recognizer.calibrate(*calibration)
    categories = set()
    for path in clips:
        predictions = analyze_file(recognizer, path)
        assert predictions[-1].time < recognizer.window_seconds == (499 * 160 + 425) / 16000  # 500 frames
        summary = summary_estimates(predictions, recognizer.window_seconds)
        np.testing.assert_array_equal(summary, [predictions[-1][1:]])
        categories.add(nearest_category(*summary[0]))
    assert len(categories) >= 3, categories


@pytest.fixture
def leveled_model(tmp_path) -> Path:
    """The shipped int8 model behind a per-utterance level normalisation (`model.json`'s `frontend`; the engine
    applies it before the step model)."""
    return _shipped_with_frontend(tmp_path / "leveled", frontend_config(LevelSettings()))


@pytest.fixture
def raw_model(tmp_path) -> Path:
    """The shipped int8 model without a front end, as models were exported before it."""
    return _shipped_with_frontend(tmp_path / "raw", None)


def _shipped_with_frontend(folder: Path, frontend: dict | None) -> Path:
    """A copy of the shipped int8 folder whose `model.json` has `frontend` (none: the key left out) and no per-speaker
    feature normalisation (its `features` left out: these tests are about the level alone)."""
    folder.mkdir()
    for name in ("cpc_step.tflite", "head.tflite"):
        (folder / name).symlink_to(SHIPPED / "int8" / name)
    config = {k: v for k, v in json.loads((SHIPPED / "int8" / "model.json").read_text()).items()
              if k not in ("frontend", "features")}
    (folder / "model.json").write_text(json.dumps({**config, **({"frontend": frontend} if frontend else {})}))
    return folder


def _analyze_csv(path: Path, *argv: str) -> np.ndarray:
    """`python -m app.analyze ARGV --csv PATH`: its rows' time and dimensions."""
    analyze_main([*argv, "--csv", str(path)])
    with open(path, newline="") as handle:
        return np.array([[float(row[k]) for k in ("time", *DIMENSIONS)] for row in csv.DictReader(handle)])


def test_analyze_calibration_starts_every_file_from_the_speakers_level(leveled_model, speech_clip, write_audio,
                                                                       tmp_path):
    clip = write_audio("clip.wav", speech_clip[:32000], subtype="FLOAT")
    reading = 0.25 * speech_clip  # the speaker, 12 dB quieter than the clip
    calibration = write_audio("reading.wav", reading, subtype="FLOAT")
    model = ["--model", str(leveled_model)]
    plain = _analyze_csv(tmp_path / "plain.csv", str(clip), *model)
    again = write_audio("again.wav", speech_clip[:32000], subtype="FLOAT")
    calibrated = _analyze_csv(tmp_path / "calibrated.csv", str(clip), str(again), *model,
                              "--calibration", str(calibration))
    first, second = np.split(calibrated, 2)
    np.testing.assert_array_equal(first, second)  # the prior stays across files
    reference = StreamingRecognizer(leveled_model)
    reference.level.calibrate(speech_level(reading))
    np.testing.assert_allclose(first, reference.push(speech_clip[:32000]) + reference.flush(), atol=6e-4)
    assert np.abs(first[:5, 1:] - plain[:5, 1:]).max() > 0.01  # the first estimates change
    assert "--calibration FILE" in analyze_parser().format_help()


def test_analyze_calibrates_each_folder_as_one_speaker_by_default(leveled_model, speech_clip, tmp_path):
    clips = {"loud/a.wav": speech_clip[:24000], "loud/b.wav": 0.5 * speech_clip[24000:56000],
             "quiet/c.wav": 0.05 * speech_clip[:24000]}
    for name, audio in clips.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        soundfile.write(tmp_path / name, audio, 16000, subtype="FLOAT")
    rows = _analyze_csv(tmp_path / "out.csv", str(tmp_path / "loud"), str(tmp_path / "quiet"), "--model",
                        str(leveled_model))
    np.testing.assert_allclose(rows, _calibrated_per_speaker(leveled_model, clips, lambda name: name.split("/")[0]),
                               atol=6e-4)
    uncalibrated = _analyze_csv(tmp_path / "none.csv", str(tmp_path / "quiet"), "--model", str(leveled_model),
                                "--calibration", "none")
    assert np.abs(uncalibrated[:5, 1:] - rows[-len(uncalibrated):][:5, 1:]).max() > 0.01


def _calibrated_per_speaker(model: Path, clips: dict[str, np.ndarray], speaker: Callable[[str], str]
                            ) -> list[list[float]]:
    """The rows of the clips (in their order), each stream calibrated with the median speech level of the clips
    whose names have its `speaker`."""
    reference, rows = StreamingRecognizer(model), []
    for name, audio in clips.items():
        levels = [speech_level(other) for key, other in clips.items() if speaker(key) == speaker(name)]
        reference.calibrate(float(np.median(levels)))
        rows += [[p.time, *p[1:]] for p in reference.push(audio) + reference.flush()]
    return rows


def test_analyze_groups_a_flat_folders_files_into_speakers_by_a_pattern_of_their_names(leveled_model, speech_clip,
                                                                                        tmp_path, capsys):
    clips = {"07a01.wav": speech_clip[:24000], "07b02.wav": 0.5 * speech_clip[24000:56000],
             "11a01.wav": 0.05 * speech_clip[:24000]}
    for name, audio in clips.items():
        soundfile.write(tmp_path / name, audio, 16000, subtype="FLOAT")
    model = ["--model", str(leveled_model)]
    rows = _analyze_csv(tmp_path / "out.csv", str(tmp_path), *model, "--speakers", r"^(\d\d)[ab]")  # the group
    np.testing.assert_allclose(rows, _calibrated_per_speaker(leveled_model, clips, lambda name: name[:2]), atol=6e-4)
    np.testing.assert_array_equal(_analyze_csv(tmp_path / "whole.csv", str(tmp_path), *model, "--speakers", r"\d\d"),
                                  rows)  # no group: the whole match
    folder = _analyze_csv(tmp_path / "folder.csv", str(tmp_path), *model)  # one speaker: the quiet one is heard low
    np.testing.assert_allclose(folder, _calibrated_per_speaker(leveled_model, clips, lambda name: ""), atol=6e-4)
    assert np.abs(folder[-5:, 1:] - rows[-5:, 1:]).max() > 0.01
    for options, problem in [
        (["--speakers", r"^(\d\d)x"],
         rf"error: --speakers '^(\d\d)x' names no speaker in the name of {tmp_path / '07a01.wav'}"),
        (["--speakers", r"(x)?\d"],
         rf"error: --speakers '(x)?\d' names no speaker in the name of {tmp_path / '07a01.wav'}"),
        (["--speakers", "^("], "error: argument --speakers: '^(': not a regular expression (missing ),"),
        (["--speakers", "^..", "--calibration", "none"],
         "error: --speakers is about the calibrations of --calibration folder, not none"),
        (["--acted", "--calibration", "none"],
         "error: --acted is about the calibrations of --calibration folder, not none"),
        (["--acted", "--calibration", str(tmp_path / "07a01.wav")],  # a reading: neutral
         f"error: --acted is about the calibrations of --calibration folder, not {tmp_path / '07a01.wav'}"),
    ]:
        with pytest.raises(SystemExit) as raised:
            analyze_main([str(tmp_path), *model, "--csv", str(tmp_path / "bad.csv"), *options])
        assert raised.value.code == 2
        assert problem in capsys.readouterr().err
        assert not (tmp_path / "bad.csv").exists()


@pytest.mark.parametrize("audio, problem", [
    (b"RIFF" + bytes(100), "cannot decode audio"),
    (np.zeros(16000, np.float32), "holds no speech (nothing above -100 dBFS)"),
    (None, "this model has no level normalisation to calibrate"),  # a model without `frontend`
])
def test_analyze_calibration_that_cannot_be_used_is_an_error_naming_it(leveled_model, raw_model, speech_clip,
                                                                       write_audio, tmp_path, capsys, audio, problem):
    clip = write_audio("clip.wav", speech_clip[:16000])
    calibration = tmp_path / "reading.wav"
    if isinstance(audio, bytes):
        calibration.write_bytes(audio)
    else:
        write_audio(calibration.name, speech_clip if audio is None else audio)
    model = raw_model if audio is None else leveled_model
    with pytest.raises(SystemExit) as exit:
        analyze_main([str(clip), "--model", str(model), "--csv", str(tmp_path / "out.csv"),
                      "--calibration", str(calibration)])
    assert exit.value.code == 2
    assert f"error: --calibration {calibration}: {problem}" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_analyze_uses_the_bundled_model_without_model():
    assert analyze_parser().parse_args(["talk.wav", "--csv", "out.csv"]).model == DEFAULT_MODEL
    assert (DEFAULT_MODEL / "model.json").is_file() and len(sorted(SAMPLE_CLIPS.glob("*.flac"))) == 8


def test_python_m_app_help():
    result = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--input-file" in result.stdout and "--model" in result.stdout


def test_app_imports_neither_tensorflow_nor_keras():
    """The app shares only keras_cpc's NumPy front end (the level and per-speaker feature normalisations, the
    speech frames, the noise suppression and its RNNoise stream, the record of them)."""
    code = ("import sys\n"
            "sys.modules['tensorflow'] = sys.modules['keras'] = None  # an import of either fails\n"
            "import app.__main__, app.window\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'keras', 'keras_cpc'}))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("['keras', 'keras_cpc', 'keras_cpc.audio', 'keras_cpc.frontend', "
                                     "'keras_cpc.loudness', 'keras_cpc.rnnoise', 'keras_cpc.speaker_features', "
                                     "'keras_cpc.speech_frames', 'keras_cpc.suppression', 'tensorflow']")


def test_the_engine_and_analyze_import_neither_tensorflow_nor_qt():
    """`app.engine` (and the command line on it) runs headless, without TensorFlow: a small device needs no more."""
    engine = sorted(f"app.engine.{path.stem}" for path in (REPO / "app" / "engine").glob("[!_]*.py"))
    code = ("import sys\n"
            "for name in ('tensorflow', 'keras', 'PySide6', 'pyqtgraph', 'sounddevice'):\n"
            "    sys.modules[name] = None  # an import of it fails\n"
            f"import app.analyze, {', '.join(engine)}\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(engine) >= 6


def test_without_tensorflow_keras_cpc_names_the_extra_to_install():
    """The base install (the app's inference, cpc-analyze) has no TensorFlow; training says what to add."""
    code = "import sys\nsys.modules['tensorflow'] = None  # as when not installed\nimport training.pretrain\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "TensorFlow, which is not installed (in the keras-cpc checkout: pip install -e '.[train]')" \
        in result.stderr


@pytest.mark.parametrize("text, problem", [
    ('{"sample_rate": 16000, "hop_samples": 0, "chunk_samples": 1865.0}',
     "missing or not a positive integer: hop_samples, chunk_samples, receptive_field, frame_hop"),
    ("[16000]", "not a model description"),
    ("{", "cannot read the model description"),
])
def test_a_model_description_that_is_not_usable_is_a_model_error_naming_it(tmp_path, text, problem):
    (tmp_path / "model.json").write_text(text)
    with pytest.raises(ModelError, match=f"{tmp_path / 'model.json'}: {problem}"):
        StreamingRecognizer(tmp_path)


@pytest.mark.parametrize("change, problem", [
    ({"window_frames": 300}, r"head.tflite: its inputs .* are not those of model.json"),
    ({"hop_samples": 3200, "hop_frames": 20, "chunk_samples": 3465}, r"cpc_step.tflite: its inputs"),
    ({"chunk_samples": 1864}, "model.json: inconsistent framing"),
    ({"outputs": ["valence", "activation", "dominance"]}, r"model.json: outputs .* are not the engine's"),
    ({"pitch": -2}, r"model.json: pitch -2 is not a number of appended features"),
    ({"mfccs": 20.0}, r"model.json: mfccs 20.0 is not a number of appended features"),
])
def test_a_model_description_that_does_not_match_its_models_is_a_model_error(tmp_path, change, problem):
    for name in ("cpc_step.tflite", "head.tflite"):
        shutil.copy(SHIPPED / "float" / name, tmp_path)
    config = json.loads((SHIPPED / "float" / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(ModelError, match=problem):
        StreamingRecognizer(tmp_path)


@pytest.mark.parametrize("threads", [0, -1])
def test_fewer_than_one_litert_thread_is_refused(threads):
    with pytest.raises(ValueError, match=fr"^{threads} LiteRT threads: give at least 1$"):
        StreamingRecognizer(SHIPPED / "float", num_threads=threads)


# Hostile input to `python -m app.analyze`: each is an error of one line, or a warning, and loses nothing.

@pytest.fixture
def clip(speech_clip, write_audio) -> Path:
    """A 1 s clip of speech."""
    return write_audio("clip.wav", speech_clip[:16000])


def _analyze_fails(capsys, *argv: str | Path) -> tuple[int, str]:
    """`python -m app.analyze ARGV` (the bundled model, no calibration), which must exit: its status and stderr."""
    with pytest.raises(SystemExit) as exit:
        analyze_main([str(arg) for arg in argv] + ["--calibration", "none"])
    return exit.value.code, capsys.readouterr().err


@pytest.mark.parametrize("outputs", [("--csv", "clip.wav"), ("--csv", "out.csv", "--plot", "clip.wav"),
                                     ("--csv", "out.csv", "--plot", "out.csv")])
def test_analyze_never_overwrites_an_input_or_another_output(clip, tmp_path, capsys, outputs):
    before = clip.read_bytes()
    code, errors = _analyze_fails(capsys, clip, *[tmp_path / a if a.endswith((".wav", ".csv")) else a
                                                  for a in outputs])
    option, name = outputs[-2:]
    assert code == 2 and f"error: {option} {tmp_path / name} is " in errors and len(errors.splitlines()) == 1
    assert clip.read_bytes() == before and not (tmp_path / "out.csv").exists()


def test_analyze_never_overwrites_a_file_of_its_model(clip, tmp_path):
    """In a process of its own: LiteRT maps the model file, which, overwritten, would crash the tests (SIGBUS)."""
    model = shutil.copytree(DEFAULT_MODEL, tmp_path / "model")
    result = subprocess.run([sys.executable, "-m", "app.analyze", str(clip), "--model", str(model), "--csv",
                             str(model / "head.tflite")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"--csv {model / 'head.tflite'} is an input" in result.stderr
    assert (model / "head.tflite").stat().st_size == (DEFAULT_MODEL / "head.tflite").stat().st_size


@pytest.mark.parametrize("outputs, bad", [
    (["--csv", "missing/out.csv"], "missing/out.csv"),
    (["--csv", "file.txt/out.csv"], "file.txt/out.csv"),  # a folder no one can write in, even root
    (["--csv", "out.csv", "--plot", "file.txt/out.png"], "file.txt/out.png"),
    (["--csv", "."], "."),
])
def test_analyze_checks_every_output_location_before_the_work(clip, tmp_path, capsys, monkeypatch, outputs, bad):
    (tmp_path / "file.txt").write_text("not a folder")
    monkeypatch.setattr("app.analyze.analyze_file", lambda *args: pytest.fail("analysed before the check"))
    code, errors = _analyze_fails(capsys, clip, *[o if o.startswith("--") else tmp_path / o for o in outputs])
    assert code == 2 and f"{tmp_path / bad}" in errors and len(errors.splitlines()) == 1, errors
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes in a read-only folder")
def test_analyze_refuses_a_read_only_folder_before_the_work(clip, tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    code, errors = _analyze_fails(capsys, clip, "--csv", tmp_path / "out.csv", "--plot", folder / "out.png")
    assert code == 2 and f"--plot {folder / 'out.png'}" in errors and not (tmp_path / "out.csv").exists()


def test_analyze_writes_its_outputs_beside_and_moves_them_into_place(clip, tmp_path, capsys):
    (tmp_path / "out.csv").write_text("an earlier run")
    analyze_main([str(clip), "--csv", str(tmp_path / "out.csv"), "--plot", str(tmp_path / "out.png")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav", "out.csv", "out.png"]
    assert (tmp_path / "out.csv").read_text().startswith("file,time,activation")


def test_an_output_that_fails_leaves_the_previous_file_and_nothing_beside_it(tmp_path):
    (tmp_path / "out.csv").write_text("an earlier run")
    with pytest.raises(OSError):
        with written_beside(tmp_path / "out.csv") as partial:
            partial.write_text("half")
            raise OSError("disk full")
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"] and (tmp_path / "out.csv").read_text() == \
        "an earlier run"


@pytest.mark.parametrize("threads", ["0", "-1", "two"])
def test_analyze_threads_below_one_are_an_error_of_the_option(clip, tmp_path, capsys, threads):
    code, errors = _analyze_fails(capsys, clip, "--csv", tmp_path / "out.csv", "--threads", threads)
    assert code == 2 and f"argument --threads: {threads!r}: give a whole number of at least 1" in errors
    assert "tflite" not in errors


def test_analyze_analyses_a_file_named_twice_once(clip, tmp_path, capsys):
    rows = _analyze_csv(tmp_path / "out.csv", str(clip), str(tmp_path / "." / clip.name), str(tmp_path))
    assert len(rows) == len(_analyze_csv(tmp_path / "once.csv", str(clip)))
    errors = capsys.readouterr().err
    assert errors.count("warning") == 1 and f"named more than once, analysed once: {clip}" in errors


def test_analyze_reports_a_wav_shorter_than_its_header_and_keeps_every_result(speech_clip, write_audio, tmp_path,
                                                                             capsys):
    whole = write_audio("whole.wav", speech_clip[:16000])
    cut = write_audio("cut.wav", speech_clip[:round(4.3 * 16000)], subtype="PCM_16")
    cut.write_bytes(cut.read_bytes()[:44 + round(1.9 * 16000) * 2])  # the header still promises 4.3 s
    code, errors = _analyze_fails(capsys, whole, cut, "--csv", tmp_path / "out.csv", "--calibration", "none")
    assert code == 1 and f"{cut}: holds 1.90 s of the 4.30 s its header promises" in errors
    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    times = {name: [float(r["time"]) for r in rows if r["file"] == str(name)] for name in (whole, cut)}
    alone = _analyze_csv(tmp_path / "alone.csv", str(whole), "--calibration", "none")[:, 0].tolist()  # from speech on
    assert alone and times[whole] == pytest.approx(alone) and 1.8 < times[cut][-1] <= 1.9
