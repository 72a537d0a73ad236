"""The desktop app's window, driven offscreen with a file standing in for the microphone (tiny model)."""

from __future__ import annotations

import csv
import ctypes.util
import errno
import gc
import json
import math
import os
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import CancelledError
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt loads: no display needed
pytest.importorskip("pytestqt")
pytest.importorskip("PySide6")
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent, QImage  # noqa: E402
from PySide6.QtWidgets import QLabel, QPushButton  # noqa: E402

from app import audio_input, window as window_module  # noqa: E402
from app.audio_input import SoundDeviceBackend, SoundDeviceSource  # noqa: E402
from app.engine import analysis  # noqa: E402
from app.engine.analysis import analyze_file  # noqa: E402
from app.engine.bundled import DEFAULT_MODEL  # noqa: E402
from app.engine.calibration import PASSAGE, SECONDS  # noqa: E402
from app.engine.categories import CATEGORIES, nearest_category  # noqa: E402
from app.engine.gating import GatedStream, SpeechGate, level_db  # noqa: E402
from app.engine.streaming import DIMENSIONS, StreamingRecognizer  # noqa: E402
from app.engine.trajectory import summary_estimates  # noqa: E402
from app.file_input import FileBackend, FileSource  # noqa: E402
from app.settings import Calibration, Settings  # noqa: E402
from app.window import MainWindow  # noqa: E402
from keras_cpc.loudness import LevelSettings, frontend_config, speech_level  # noqa: E402
from keras_cpc.suppression import RNNOISE, SuppressionSettings, suppression_config  # noqa: E402

RATE = 16000
SPEED = 4.0  # the fake input plays 4x real time
SILENCE = (2.0, 3.5)  # seconds of digital silence in the test audio
SETTLE = 0.8  # the gate's hangover plus one estimate (3 + 1 of 0.2 s live), after the silence starts


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny random CPC + recognizer exported for streaming (as in test_export.py)."""
    from keras_cpc.models import CPC, EmotionRecognizer
    from training import export

    root = tmp_path_factory.mktemp("app_model")
    cpc = CPC(encoder_channels=8, context_units=16)
    cpc.build((None, None))
    recognizer = EmotionRecognizer(num_heads=2, attention_dim=8, hidden_units=(8, 8))
    recognizer.build({"features": (None, None, 16), "lengths": (None,)})
    rng = np.random.default_rng(0)
    for weight in cpc.weights + recognizer.weights:  # large enough that outputs vary
        shape = tuple(weight.shape)
        scale = 1 / np.sqrt(np.prod(shape[:-1])) if len(shape) > 1 else 0.1
        weight.assign(rng.normal(0, scale, shape).astype(np.float32))
    cpc.save(root / "cpc.keras")
    recognizer.save(root / "recognizer.keras")
    export.main(["--cpc", str(root / "cpc.keras"), "--recognizer", str(root / "recognizer.keras"),
                 "--out", str(root / "model"), "--window-seconds", "1"])
    return root / "model"


def model_variant(source: Path, folder: Path, change: Callable[[dict], dict]) -> Path:
    """`source`'s LiteRT files in `folder`, with its `model.json` config passed through `change`."""
    for name in ("cpc_step.tflite", "head.tflite"):
        shutil.copy(source / name, folder)
    config = json.loads((source / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(change(config)))
    return folder


@pytest.fixture(scope="module")
def leveled_model(model, tmp_path_factory) -> Path:
    """The tiny model behind the level normalisation (`model.json`'s `frontend`, as models are exported now;
    the engine applies it before the step model, so the LiteRT files stay those of `model`)."""
    return model_variant(model, tmp_path_factory.mktemp("leveled_model"),
                         lambda config: {**config, "frontend": frontend_config(LevelSettings())})


@pytest.fixture(scope="module")
def audio(speech_clip) -> np.ndarray:
    """5 s: 2 s of speech, 1.5 s of silence, 1.5 s of speech."""
    silence = np.zeros(round((SILENCE[1] - SILENCE[0]) * RATE), np.float32)
    return np.concatenate([speech_clip[:2 * RATE], silence, speech_clip[2 * RATE:round(3.5 * RATE)]])


@pytest.fixture
def make_window(qtbot, tmp_path, model):
    """`make_window(backend, model_dir)` -> a shown window with settings of its own in tmp_path."""

    def make(backend=None, model_dir: Path | None = model) -> MainWindow:
        settings = Settings.in_file(tmp_path / "settings.ini")
        settings.last_folder = str(tmp_path)
        window = MainWindow(settings, backend if backend is not None else FileBackend({}), model_dir)
        qtbot.addWidget(window)
        # The `model` fixture's TensorFlow export leaves ~400k objects; a full garbage collection
        # of them holds the GIL for ~0.5 s on a 2-core machine: do it now, not while a test times
        # the live plots. The window is painted before the test drives it, as a user's would be.
        gc.collect()
        with qtbot.waitExposed(window):
            window.show()
        return window

    return make


def _live(qtbot, window: MainWindow) -> None:
    """Runs the live input until the fake source's audio ends."""
    assert window.start_live(), window.message()
    qtbot.waitUntil(lambda: window.session is None, timeout=20000)


def _silent(times: np.ndarray) -> np.ndarray:
    return (times > SILENCE[0] + SETTLE) & (times <= SILENCE[1])


def test_live_plots_one_point_per_interval_with_gaps_in_silence(make_window, qtbot, model, audio):
    window = make_window(FileBackend({"speech": FileSource(audio, RATE, speed=SPEED)}))
    assert window.recognizer.interval == pytest.approx(window_module.LIVE_INTERVAL)  # two of the model's 0.1 s hops
    _live(qtbot, window)
    reference = StreamingRecognizer(model, interval=window_module.LIVE_INTERVAL)
    expected = np.array(reference.push(audio) + reference.flush())
    times, values = window.time_plots.points("valence")
    assert len(times) == len(expected) == len(window.trajectory) == 25  # 24 intervals and the flushed rest
    np.testing.assert_allclose(times, expected[:, 0])
    shown = ~np.isnan(values)
    assert not shown[_silent(times)].any()  # a gap all through the silence
    assert shown[~_silent(times)].mean() >= 0.75  # speech is estimated (quiet starts and pauses are not)
    for name, column in zip(DIMENSIONS, expected.T[1:]):
        plotted = window.time_plots.points(name)[1]
        np.testing.assert_allclose(plotted[shown], column[shown], atol=1e-6)
        assert np.isnan(plotted[~shown]).all()
    newest = window.trajectory[-1]
    assert window.category_label.text() == ("—" if math.isnan(newest.valence) else nearest_category(*newest[1:]))
    assert window.message() == ""
    latency = np.array([drawn - arrival for arrival, drawn in window.drawn])
    assert len(latency) > 0 and (latency >= 0).all()
    # typical chunks are drawn within 1 s; a start-up stall on a loaded 2-core machine may delay the first
    # few (latency itself is measured in benchmarks/desktop_app.py)
    assert np.median(latency) < 1.0


def test_live_csv_of_a_44k_input_matches_the_engine(make_window, qtbot, model, audio, tmp_path):
    path = tmp_path / "speech44k.wav"
    soundfile.write(path, np.interp(np.arange(0, len(audio), RATE / 44100), np.arange(len(audio)), audio),
                    44100, subtype="FLOAT")
    window = make_window(FileBackend({"file": FileSource.from_file(path, speed=SPEED)}))
    _live(qtbot, window)
    assert window.export_csv(tmp_path / "live.csv")
    with open(tmp_path / "live.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # the same audio, resampled the same way, at the live interval
    expected = analyze_file(StreamingRecognizer(model, interval=window_module.LIVE_INTERVAL), path)
    assert [float(row["time"]) for row in rows] == [round(p.time, 3) for p in expected]
    values = np.array([[float(row[name]) for name in DIMENSIONS] for row in rows])
    shown = ~np.isnan(values[:, 0])
    silent = _silent(np.array([p.time for p in expected]))
    assert not shown[silent].any()
    assert shown[~silent].mean() >= 0.75  # at 44.1 kHz too, speech is estimated
    np.testing.assert_allclose(values[shown], np.array([p[1:] for p in expected])[shown], atol=1e-4)


def test_file_analysis_exports_what_the_engine_computes(make_window, qtbot, model, audio, tmp_path):
    window = make_window()  # no input device at all: files still work
    assert "No audio input device" in window.message()
    path = tmp_path / "speech.wav"
    soundfile.write(path, audio, RATE)
    assert window.analyze_path(path)
    qtbot.waitUntil(lambda: not window.analysing, timeout=10000)
    expected = analyze_file(StreamingRecognizer(model), path)
    assert window.trajectory == expected
    assert len(window.time_plots.points("activation")[0]) == len(expected)
    category = nearest_category(*summary_estimates(expected, StreamingRecognizer(model).window_seconds).mean(axis=0))
    assert f"nearest {category}" in window.summary_label.text() and window.category_label.text() == category
    assert window.export_csv(tmp_path / "file.csv") and window.export_png(tmp_path / "plots.png")
    with open(tmp_path / "file.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["file"] for row in rows} == {str(path)}
    np.testing.assert_allclose([[float(row[k]) for k in ("time", *DIMENSIONS)] for row in rows],
                               np.array(expected), atol=6e-4)
    image = QImage(str(tmp_path / "plots.png"))
    assert image.width() > 300 and image.height() > 200


def test_a_new_file_or_closing_the_window_stops_the_analysis_still_running(make_window, qtbot, model, audio,
                                                                            tmp_path):
    long_path, short_path = tmp_path / "long.wav", tmp_path / "short.wav"
    soundfile.write(long_path, np.tile(audio, 120), RATE, subtype="PCM_16")  # 10 min
    soundfile.write(short_path, audio[:RATE], RATE)
    window = make_window()
    futures = []
    for path in (long_path, short_path, long_path):
        window.analyze_path(path)
        futures.append(window._analysis[1])
        if path == short_path:
            qtbot.waitUntil(lambda: window.trajectory_name == str(short_path), timeout=10000)
    window.close()
    for future in futures[::2]:  # stopped at their next block (or before they start), not after 10 min of audio
        with pytest.raises(CancelledError):
            future.result(timeout=30)
    assert window.trajectory == analyze_file(StreamingRecognizer(model), short_path)


def test_dropped_file_is_analysed(make_window, qtbot, model, audio, tmp_path):
    window = make_window()
    path = tmp_path / "drops" / "dropped.flac"
    path.parent.mkdir()
    soundfile.write(path, audio[:RATE], RATE)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt")), QUrl.fromLocalFile(str(path))])
    window.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: window.trajectory_name == str(path), timeout=10000)
    assert window.trajectory == analyze_file(StreamingRecognizer(model), path)
    assert window.settings.last_folder == str(path.parent)  # dialogs and recordings go there next


def test_try_a_sample_menu_analyses_the_bundled_clip(make_window, qtbot, model, tmp_path):
    window = make_window()
    menu = next(a.menu() for a in window.menuBar().actions()[0].menu().actions() if a.menu())
    actions = {action.text(): action for action in menu.actions()}
    assert sorted(actions) == sorted(CATEGORIES)
    actions["angry"].trigger()
    qtbot.waitUntil(lambda: not window.analysing, timeout=10000)
    path = Path(window.trajectory_name)
    assert path.name.startswith("03-01-05-") and path.parent.name == "Actor_02"
    assert window.trajectory == analyze_file(StreamingRecognizer(model), path)
    assert window.settings.last_folder == str(tmp_path)  # a recording does not go among the shipped clips


def test_session_is_recorded_to_wav(make_window, qtbot, audio, tmp_path):
    window = make_window(FileBackend({"speech": FileSource(audio[:RATE], RATE, speed=SPEED)}))
    window.record_box.setChecked(True)
    assert window.start_live()
    recording = window.recording_path
    assert recording.parent == tmp_path
    qtbot.waitUntil(lambda: window.session is None, timeout=10000)
    recorded, rate = soundfile.read(recording, dtype="float32")
    assert rate == RATE
    np.testing.assert_allclose(recorded, audio[:RATE], atol=1 / 32768)


def test_a_recording_that_cannot_be_written_stops_the_session_naming_its_file(make_window, qtbot, audio,
                                                                             monkeypatch):
    def full_disk(recording, samples):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(soundfile.SoundFile, "write", full_disk)
    window = make_window(FileBackend({"speech": FileSource(audio[:RATE], RATE, speed=SPEED)}))
    window.record_box.setChecked(True)
    assert window.start_live()
    recording = window.recording_path
    qtbot.waitUntil(lambda: window.session is None, timeout=10000)
    assert f"Recording to {recording} failed" in window.message() and "No space left" in window.message()


def test_a_recording_that_cannot_be_completed_says_so(make_window, qtbot, audio, monkeypatch):
    close = soundfile.SoundFile.close

    def full_disk(recording):  # the header's length cannot be written; the file is closed all the same
        was_open = not recording.closed
        close(recording)
        if was_open:
            raise OSError(errno.ENOSPC, "No space left on device")

    window = make_window(FileBackend({"speech": FileSource(audio[:RATE], RATE, speed=SPEED)}))
    window.record_box.setChecked(True)
    assert window.start_live()
    monkeypatch.setattr(soundfile.SoundFile, "close", full_disk)
    recording = window.recording_path
    qtbot.waitUntil(lambda: window.session is None, timeout=10000)
    monkeypatch.setattr(soundfile.SoundFile, "close", close)
    assert f"Recording to {recording} could not be completed" in window.message()
    assert len(window.trajectory) == 5  # the session's estimates (every 0.2 s) are kept


def test_settings_persist(make_window, tmp_path):
    window = make_window(FileBackend({"a": FileSource(np.zeros(10), RATE), "b": FileSource(np.zeros(10), RATE)}))
    window.device_box.setCurrentText("b")
    window.gate_box.setValue(-30)
    window.settings.store.sync()
    again = make_window(FileBackend({"a": FileSource(np.zeros(10), RATE), "b": FileSource(np.zeros(10), RATE)}),
                        model_dir=None)
    assert again.device_box.currentText() == "b" and again.gate_box.value() == -30
    assert again.model_dir == window.model_dir and again.settings.last_folder == str(tmp_path)


def test_the_model_folder_is_remembered_absolute_and_a_vanished_one_gives_way_to_the_default(
        make_window, model, tmp_path, monkeypatch):
    monkeypatch.chdir(model.parent)
    window = make_window(model_dir=Path(model.name))  # `--model` relative to where the app was started
    assert window.recognizer is not None and window.settings.model_path == str(model.resolve())
    window.settings.model_path = str(tmp_path / "deleted")
    again = make_window(model_dir=None)  # and no input device: both problems stay in the banner
    assert again.model_dir == DEFAULT_MODEL and str(DEFAULT_MODEL) in again.model_label.text()
    assert f"{tmp_path / 'deleted'} does not exist" in again.message() and "No audio input device" in again.message()


# -- speaker calibration ------------------------------------------------------------------------------

CALIBRATION_SPEED = 8.0  # 15 s of calibration in under 2 s


def _calibrate(qtbot, window: MainWindow) -> None:
    """Runs a calibration until its recording ends."""
    assert window.start_calibration(), window.message()
    assert window.calibration_panel.isVisible() and not window.calibrate_action.isEnabled()
    qtbot.waitUntil(lambda: not window.calibrating, timeout=20000)
    assert not window.calibration_panel.isVisible()


def test_calibration_is_saved_used_by_the_next_session_and_cleared(make_window, qtbot, leveled_model, audio,
                                                                    speech_clip):
    reading = np.tile(0.5 * speech_clip, 3)  # 21 s, 6 dB quieter than `audio`
    window = make_window(FileBackend({"speaker": FileSource(reading, RATE, speed=CALIBRATION_SPEED)}),
                         model_dir=leveled_model)
    assert window.calibration_label.text() == "Not calibrated: adapts as you speak"
    assert window.calibration_label.isVisibleTo(window) and not window.clear_calibration_action.isEnabled()
    progress = []
    window.calibration_progress.valueChanged.connect(progress.append)
    _calibrate(qtbot, window)
    assert PASSAGE in [label.text() for label in window.calibration_panel.findChildren(QLabel)]
    assert len(progress) >= 5 and progress == sorted(progress) and progress[-1] == 150  # tenths of 15 s
    level = speech_level(reading[:15 * RATE])  # what the input gave, at the model's rate
    today = date.today().isoformat()
    assert window.settings.calibration == Calibration(pytest.approx(level, abs=0.01), today)
    assert window.calibration_label.text() == f"Calibrated: {level:.0f} dBFS speech level ({today})"
    assert window.calibrate_action.isEnabled() and window.clear_calibration_action.isEnabled()  # it can be redone
    window.settings.store.sync()

    again = make_window(FileBackend({"speech": FileSource(audio, RATE, speed=SPEED)}), model_dir=leveled_model)
    assert again.recognizer.level.level_dbfs == pytest.approx(level, abs=0.25)  # the next launch starts from it
    _live(qtbot, again)
    calibrated, adapting = (StreamingRecognizer(leveled_model, interval=window_module.LIVE_INTERVAL) for _ in "ab")
    calibrated.level.calibrate(again.settings.calibration.level_dbfs)
    expected = np.array(calibrated.push(audio) + calibrated.flush())
    plain = np.array(adapting.push(audio) + adapting.flush())
    live = np.array(again.trajectory)
    shown = ~np.isnan(live[:, 1])
    assert shown[:5].sum() >= 3  # of the first second
    np.testing.assert_allclose(live[shown], expected[shown], atol=1e-6)
    assert np.abs(live[shown] - plain[shown]).max() > 1e-4  # not the uncalibrated start

    again.clear_calibration_action.trigger()
    assert again.settings.calibration is None and not again.settings.store.contains("calibration/level_dbfs")
    again.recognizer.reset()
    assert again.recognizer.level.level_dbfs is None  # no prior
    assert again.calibration_label.text() == "Not calibrated: adapts as you speak"
    assert not again.clear_calibration_action.isEnabled()


@pytest.fixture(scope="module")
def speaker_model(leveled_model, tmp_path_factory) -> Path:
    """The leveled model that also normalises its contexts per speaker (`model.json`'s `features`)."""

    def change(config: dict) -> dict:
        size = config["state_size"]
        features = {"mean": [0.1] * size, "variance": [0.05] * size, "frame_rate": 100.0, "prior_seconds": 10.0}
        return {**config, "features": features, "model_version": "speaker-test"}

    return model_variant(leveled_model, tmp_path_factory.mktemp("speaker_model"), change)


def test_calibration_saves_and_uses_the_speakers_feature_statistics_for_its_model(make_window, qtbot, speaker_model,
                                                                                   leveled_model, audio, speech_clip):
    reading = np.tile(0.5 * speech_clip, 3)
    window = make_window(FileBackend({"speaker": FileSource(reading, RATE, speed=CALIBRATION_SPEED)}),
                         model_dir=speaker_model)
    _calibrate(qtbot, window)
    reference = StreamingRecognizer(speaker_model, interval=window_module.LIVE_INTERVAL)
    level, (mean, variance) = reference.calibrate_speaker(lambda: [[reading[:15 * RATE]]])
    saved = window.settings.calibration
    assert saved.level_dbfs == pytest.approx(level, abs=0.01) and saved.model_version == "speaker-test"
    np.testing.assert_allclose(saved.features[0], mean, atol=1e-5)
    np.testing.assert_allclose(saved.features[1], variance, atol=1e-5)
    window.settings.store.sync()

    again = make_window(FileBackend({"speech": FileSource(audio, RATE, speed=SPEED)}), model_dir=speaker_model)
    _live(qtbot, again)
    reference.calibrate(saved.level_dbfs, saved.features, feature_seconds=SECONDS)  # the level as saved (rounded)
    expected = np.array(reference.push(audio) + reference.flush())
    reference.calibrate(saved.level_dbfs, saved.features)
    fixed = np.array(reference.push(audio) + reference.flush())
    reference.calibrate(saved.level_dbfs)
    level_only = np.array(reference.push(audio) + reference.flush())
    live = np.array(again.trajectory)
    shown = ~np.isnan(live[:, 1])
    np.testing.assert_allclose(live[shown], expected[shown], atol=1e-6)
    assert np.abs(live[shown] - level_only[shown]).max() > 1e-3  # the features' calibration is used
    assert np.abs(live[shown] - fixed[shown]).max() > 1e-3  # as where the session's statistics start
    assert again.load_model(leveled_model) and again.recognizer.speaker_features is None  # the level alone applies
    again.clear_calibration_action.trigger()
    assert not again.settings.store.contains("calibration/features")


def test_a_calibration_of_another_size_is_left_unused_not_applied(make_window, qtbot, speaker_model, audio):
    """A model rebuilt under the same version with wider features (MFCCs appended): the saved statistics do not fit
    it, so the session normalises with its own running statistics, as for another model's, instead of failing."""
    size = json.loads((speaker_model / "model.json").read_text())["state_size"]
    window = make_window(FileBackend({"speech": FileSource(audio, RATE, speed=SPEED)}), model_dir=speaker_model)
    window.settings.calibration = Calibration(-30.0, "2026-01-02", ([0.0] * (size + 3), [1.0] * (size + 3)),
                                              "speaker-test")
    window._use_calibration()
    assert window.recognizer.speaker_features.statistics[0].shape == (size,)  # running statistics, not the saved
    _live(qtbot, window)
    assert np.isfinite(np.array(window.trajectory)[:, 1:]).any()
    with pytest.raises(ValueError, match=f"for features of {size} dimensions"):
        window.recognizer.speaker_features.calibrate(([0.0] * (size + 3), [1.0] * (size + 3)))


@pytest.mark.parametrize("noise_rms, problem", [
    (0.0, "the recording holds no speech (nothing above -100 dBFS)"),
    (10 ** (-70 / 20), "the recording holds no speech above -51 dBFS (its speech level is -70 dBFS)"),  # gate -45
])
def test_a_calibration_without_speech_is_refused_keeping_the_previous_one(make_window, qtbot, leveled_model,
                                                                          noise_rms, problem):
    previous = Calibration(-30.0, "2026-01-02")
    make_window(model_dir=leveled_model).settings.calibration = previous
    noise = np.random.default_rng(0).normal(0, noise_rms, 16 * RATE)
    window = make_window(FileBackend({"quiet": FileSource(noise, RATE, speed=CALIBRATION_SPEED)}),
                         model_dir=leveled_model)
    _calibrate(qtbot, window)
    assert f"Calibration: {problem}. Read the text aloud" in window.message()
    assert "the previous calibration stays" in window.message()
    assert window.settings.calibration == previous
    assert window.recognizer.level.level_dbfs == pytest.approx(-30.0, abs=0.25)
    assert window.calibration_label.text() == "Calibrated: -30 dBFS speech level (2026-01-02)"


def test_a_cancelled_calibration_saves_nothing(make_window, qtbot, leveled_model, speech_clip):
    window = make_window(FileBackend({"speaker": FileSource(np.tile(speech_clip, 3), RATE)}), model_dir=leveled_model)
    assert window.start_calibration()
    qtbot.waitUntil(lambda: window.calibration_progress.value() >= 3, timeout=5000)
    next(b for b in window.calibration_panel.findChildren(QPushButton) if b.text() == "Cancel").click()
    assert not window.calibrating and not window.calibration_panel.isVisible() and window.start_button.text() == "Start"
    assert window.statusBar().currentMessage().startswith("Calibration stopped after")
    assert window.settings.calibration is None and window.recognizer.level.level_dbfs is None
    assert window.message() == "" and window.calibrate_action.isEnabled()


def test_a_model_without_level_normalisation_has_no_calibration(make_window, model, leveled_model):
    window = make_window(FileBackend({"a": FileSource(np.zeros(10), RATE)}), model_dir=leveled_model)
    window.settings.calibration = Calibration(-30.0, "2026-01-02")
    assert window.load_model(model) and window.recognizer.level is None  # an older export: no `frontend`
    assert not window.calibrate_action.isEnabled() and not window.clear_calibration_action.isEnabled()
    assert not window.calibration_label.isVisibleTo(window)
    assert not window.start_calibration() and window.session is None
    assert "Cannot calibrate: this model has no level normalisation to calibrate" in window.message()
    assert window.load_model(leveled_model) and window.calibrate_action.isEnabled()
    assert window.calibration_label.isVisibleTo(window)


@pytest.fixture(scope="module")
def suppressed_model(leveled_model, tmp_path_factory) -> Path:
    """The leveled model behind the gated noise suppression, level 4 for steady noise and RNNoise for loud steady
    noise (as shipped)."""
    suppression = suppression_config(SuppressionSettings(2, steady_level=4, low_snr_level=RNNOISE))
    return model_variant(leveled_model, tmp_path_factory.mktemp("suppressed_model"),
                         lambda config: {**config, "frontend": config["frontend"] | suppression})


def test_the_status_bar_shows_the_noise_suppressions_level_while_live(make_window, qtbot, model, suppressed_model,
                                                                       audio, monkeypatch, hide_rnnoise):
    noisy = audio + np.random.default_rng(0).normal(0, 0.3 * audio.std(), len(audio)).astype(np.float32)
    window = make_window(FileBackend({"noisy": FileSource(noisy, RATE, speed=SPEED),
                                      "clean": FileSource(audio, RATE, speed=SPEED)}), suppressed_model)
    label = window.suppression_label
    assert label.isVisible() and label.text() == "Noise suppression: on in noisy input"
    shown = {}
    for device in ("noisy", "clean"):
        window.device_box.setCurrentText(device)
        assert window.start_live(), window.message()
        shown[device] = set()
        qtbot.waitUntil(lambda: shown[device].add(label.text()) or window.session is None, timeout=20000)
    steady = {"Noise suppression: level 4 (steady noise)", "Noise suppression: RNNoise (steady noise, low SNR)"}
    assert "Noise suppression: RNNoise (steady noise, low SNR)" in shown["noisy"]  # white noise about 10 dB under it
    # the clean input's digital silence: off; its first seconds of speech without a pause may pass for noise, never
    # for a steady one
    assert "Noise suppression: off (the input is not noisy)" in shown["clean"] and not steady & shown["clean"]
    assert label.text() == "Noise suppression: on in noisy input"  # stopped
    assert window.load_model(model) and not label.isVisible()  # a model without suppression
    hide_rnnoise()  # a platform without RNNoise's wheel: WebRTC's levels alone
    assert window.load_model(suppressed_model)
    assert label.text() == "Noise suppression: on in noisy input; no RNNoise here (no pyrnnoise)"
    monkeypatch.setitem(sys.modules, "webrtc_noise_gain", None)  # a platform without its wheel
    assert window.load_model(suppressed_model)
    assert label.text() == "Noise suppression: unavailable on this platform (no webrtc-noise-gain)"


def test_the_speech_gate_hears_each_estimates_whole_hop_behind_the_suppressors_delay(suppressed_model, audio):
    recognizer = StreamingRecognizer(suppressed_model)
    gate, heard = SpeechGate(-60.0), []
    gate.update = lambda level: heard.append(level) or True
    stream, hop = GatedStream(recognizer, gate), recognizer.config["hop_samples"]
    predictions = [p for start in range(0, len(audio), 50) for p in stream.push(audio[start:start + 50])]
    ends = [round(p.time * RATE) for p in predictions]
    assert recognizer.suppressor.delay > hop and len(heard) == len(ends) > 10
    np.testing.assert_allclose(heard, [level_db(audio[max(0, end - hop):end]) for end in ends])


# -- failures: each one leaves a message and the rest working ---------------------------------------


def test_missing_model_says_so_and_live_shows_the_level_only(make_window, qtbot, audio, tmp_path):
    window = make_window(FileBackend({"speech": FileSource(audio[:RATE], RATE, speed=SPEED)}),
                         model_dir=tmp_path / "missing")
    assert "No model" in window.model_label.text() and "does not exist" in window.message()
    levels = []
    window.level_meter.valueChanged.connect(levels.append)
    _live(qtbot, window)
    assert window.trajectory == [] and max(levels) > -40
    assert not window.analyze_path(tmp_path / "any.wav")
    assert "needs a model" in window.message()


def test_a_folder_that_is_not_a_model_keeps_the_previous_one(make_window, model, tmp_path):
    window = make_window()
    (tmp_path / "not_a_model").mkdir()
    assert not window.load_model(tmp_path / "not_a_model")
    assert "Not a model folder" in window.message() and "model.json" in window.message()
    assert window.model_dir == model and window.recognizer is not None


def test_a_file_damaged_partway_shows_its_trajectory_up_to_the_damage(make_window, qtbot, model, audio, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(analysis, "BLOCK_SECONDS", 1.0)
    damaged = audio[:3 * RATE].copy()
    damaged[round(2.5 * RATE)] = np.inf
    path = tmp_path / "damaged.wav"
    soundfile.write(path, damaged, RATE, subtype="FLOAT")
    window = make_window()
    assert window.analyze_path(path)
    qtbot.waitUntil(lambda: not window.analysing, timeout=10000)
    streaming = StreamingRecognizer(model)
    expected = streaming.push(audio[:round(2.5 * RATE)]) + streaming.flush()  # all the audio before the damage
    assert window.trajectory == expected and expected[-1].time == pytest.approx(2.5, abs=0.01)
    assert "damaged.wav: audio contains NaN or Inf samples from 2.50 s; showing its first 2.5 s" in window.message()
    assert window.summary_label.text().startswith("damaged.wav: 2.5 s")


def test_choosing_another_model_stops_the_live_input_keeping_its_trajectory(make_window, qtbot, model, audio):
    window = make_window(FileBackend({"speech": FileSource(audio, RATE, speed=SPEED)}))
    assert window.start_live()
    qtbot.waitUntil(lambda: len(window.trajectory) >= 5, timeout=20000)
    assert window.load_model(model) and window.session is None
    assert len(window.trajectory) >= 5 and f"{model} is used from the next Start" in window.message()
    assert window.summary_label.text().startswith("Live: ") and window.start_button.text() == "Start"


def test_choosing_another_model_stops_a_file_analysis(make_window, model, audio, tmp_path):
    path = tmp_path / "long.wav"
    soundfile.write(path, np.tile(audio, 12), RATE)  # 60 s
    window = make_window()
    assert window.analyze_path(path) and window.analysing
    assert window.load_model(model) and not window.analysing and window.trajectory == []


def test_corrupt_audio_file_is_reported(make_window, qtbot, tmp_path):
    window = make_window()
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF" + bytes(100))
    window.analyze_path(path)
    qtbot.waitUntil(lambda: not window.analysing, timeout=10000)
    assert "corrupt.wav" in window.message() and "cannot decode audio" in window.message()


def test_portaudio_failing_to_start_is_an_input_error(monkeypatch, tmp_path):
    (tmp_path / "sounddevice.py").write_text("class PortAudioError(Exception):\n    pass\n\n\n"
                                             "raise PortAudioError('Error initializing PortAudio')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    with pytest.raises(audio_input.AudioInputError, match="Error initializing PortAudio.*libportaudio2"):
        audio_input.load_sounddevice()


def test_a_missing_sounddevice_package_is_named_as_such(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # what an environment without it imports
    with pytest.raises(audio_input.AudioInputError, match="package 'sounddevice' is not installed"):
        audio_input.load_sounddevice()


def test_missing_portaudio_is_reported(make_window, monkeypatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)  # as without libportaudio2
    window = make_window(SoundDeviceBackend())
    assert "PortAudio" in window.message() and "libportaudio2" in window.message()
    assert not window.start_button.isEnabled()


class FakeStream:
    """Stands in for `sounddevice.InputStream`: the test calls its callbacks."""

    def __init__(self, callback, finished_callback, samplerate, channels, **kwargs):
        self.callback, self.finished, self.samplerate, self.channels = callback, finished_callback, samplerate, channels
        FakeSoundDevice.streams.append(self)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeSoundDevice(SimpleNamespace):
    """The parts of `sounddevice` the backend uses, with a given device list (`plugged`: the one
    PortAudio finds when it restarts) and the settings it accepts."""

    streams: list[FakeStream] = []
    PortAudioError = RuntimeError
    InputStream = FakeStream

    def __init__(self, devices: list[dict], accepts: Callable[[int, int], bool] = lambda channels, rate: True):
        super().__init__(default=SimpleNamespace(device=(0, 0)))
        self._devices = self.plugged = [{"index": i, "default_samplerate": 48000.0, **d}
                                        for i, d in enumerate(devices)]
        self.accepts, self._initialized, self.fail_restart = accepts, 1, False
        FakeSoundDevice.streams = []

    def query_devices(self) -> list[dict]:
        return self._devices

    def check_input_settings(self, device: int, channels: int, samplerate: int) -> None:
        if not (channels <= self._devices[device]["max_input_channels"] and self.accepts(channels, samplerate)):
            raise self.PortAudioError("Invalid number of channels or sample rate")

    def _terminate(self) -> None:
        if not self._initialized:
            raise self.PortAudioError("PortAudio not initialized")
        self._initialized, self._devices = 0, []

    def _initialize(self) -> None:
        if self.fail_restart:
            self.fail_restart = False
            raise self.PortAudioError("Error initializing PortAudio")
        self._initialized, self._devices = 1, self.plugged


def test_refresh_finds_a_device_plugged_in_since_start_up(make_window, monkeypatch):
    fake = FakeSoundDevice([{"name": "speakers", "max_input_channels": 0}])
    monkeypatch.setattr(audio_input, "load_sounddevice", lambda: fake)
    window = make_window(SoundDeviceBackend())
    assert window.device_box.count() == 0 and not window.start_button.isEnabled()
    refresh = next(b for b in window.findChildren(QPushButton) if b.text() == "Refresh")
    fake.fail_restart = True
    refresh.click()
    assert "PortAudio failed (Error initializing PortAudio)" in window.message()
    fake.plugged = [*fake.plugged, {"index": 1, "name": "usb mic", "max_input_channels": 1,
                                    "default_samplerate": 48000.0}]
    refresh.click()  # PortAudio starts again after a restart that failed
    assert [window.device_box.itemText(i) for i in range(window.device_box.count())] == ["usb mic"]
    assert window.start_button.isEnabled() and window.start_live()
    fake.plugged = []
    refresh.click()  # not while the input runs: a restart would close its stream
    assert window.device_box.count() == 1 and window.session is not None


@pytest.mark.parametrize("channels, expected", [(2, 0.3), (8, 0.2)])  # stereo averaged; else the first
def test_a_device_without_mono_or_16_khz_is_opened_with_its_channels_at_its_rate(channels, expected):
    fake = FakeSoundDevice([{"name": "hw:1,0", "max_input_channels": channels}],
                           accepts=lambda n, rate: n == channels and rate == 48000)
    source = SoundDeviceSource(fake, "hw:1,0")
    chunks = []
    source.start(lambda samples, arrival: chunks.append(samples), lambda message: None)
    stream, = FakeSoundDevice.streams
    assert (stream.channels, stream.samplerate, source.sample_rate) == (channels, 48000, 48000)
    levels = np.linspace(0.2, 0.4, channels, dtype=np.float32)
    stream.callback(np.tile(levels, (480, 1)), 480, None, None)
    np.testing.assert_allclose(chunks[0], np.full(480, expected), rtol=1e-6)


def test_no_input_device_is_reported(make_window, monkeypatch):
    fake = FakeSoundDevice([{"name": "speakers", "max_input_channels": 0}])
    monkeypatch.setattr(audio_input, "load_sounddevice", lambda: fake)
    window = make_window(SoundDeviceBackend())
    assert "No audio input device" in window.message() and window.device_box.count() == 0
    assert not window.start_button.isEnabled()


def test_a_device_that_disappears_stops_the_session_with_a_message(make_window, qtbot, monkeypatch, audio):
    fake = FakeSoundDevice([{"name": "usb mic", "max_input_channels": 1}])
    monkeypatch.setattr(audio_input, "load_sounddevice", lambda: fake)
    window = make_window(SoundDeviceBackend())
    assert window.start_live()
    stream, = FakeSoundDevice.streams
    assert stream.samplerate == RATE
    for start in range(0, RATE, 800):
        overflow = SimpleNamespace(input_overflow=start == 4000)  # PortAudio's CallbackFlags
        stream.callback(audio[start:start + 800, None], 800, None, overflow)
    qtbot.waitUntil(lambda: "audio lost 1 time(s)" in window.statusBar().currentMessage(), timeout=5000)
    stream.finished()  # PortAudio ends the stream: the device is gone
    qtbot.waitUntil(lambda: window.session is None, timeout=5000)
    assert "'usb mic' stopped delivering audio" in window.message()
    assert len(window.trajectory) == 5 and window.start_button.text() == "Start"


def test_a_stalled_device_is_detected(make_window, qtbot, monkeypatch):
    monkeypatch.setattr(window_module, "STALL_SECONDS", 0.3)
    fake = FakeSoundDevice([{"name": "usb mic", "max_input_channels": 1}])
    monkeypatch.setattr(audio_input, "load_sounddevice", lambda: fake)
    window = make_window(SoundDeviceBackend())
    assert window.start_live()  # no callback ever comes
    assert not window.device_box.isEnabled()  # the stall names the session's device: it cannot change
    qtbot.waitUntil(lambda: window.session is None, timeout=5000)
    assert "No audio from 'usb mic'" in window.message() and "Press Refresh, then Start" in window.message()
    assert window.level_meter.value() == window_module.LEVEL_FLOOR_DB and window.device_box.isEnabled()
