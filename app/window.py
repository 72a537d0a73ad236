"""The main window: live emotion estimates from an input device, or the trajectory of an audio file."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel,
                               QMainWindow, QProgressBar, QPushButton, QSplitter, QToolButton, QVBoxLayout, QWidget)

from app.audio_input import AudioBackend, AudioInputError
from app.engine.analysis import AnalysisError, analyze_file
from app.engine.bundled import DEFAULT_MODEL, SAMPLE_CLIPS
from app.engine.calibration import NO_LEVEL, PASSAGE, SECONDS, CalibrationRecorder, NoSpeechError, measure_level
from app.engine.categories import nearest_category, ravdess_category
from app.engine.gating import HYSTERESIS_DB, GatedStream, SpeechGate
from app.engine.streaming import ModelError, Prediction, StreamingRecognizer
from app.engine.trajectory import estimates, summarize, summary_estimates, write_csv
from app.plots import PlanePlot, TimePlots
from app.session import LiveSession, Stopped, Stream, Update
from app.settings import Calibration, Settings
from keras_cpc.audio import AUDIO_EXTENSIONS
from keras_cpc.suppression import RNNOISE

LIVE_SPAN = 30.0  # seconds of live estimates on screen
TRAIL_SECONDS = 3.0  # of estimates in the plane's trail
LIVE_INTERVAL = 0.2  # seconds between live estimates (a whole number of the model's hops, at least one): smooth
# to the eye, and half the plots' repaints and head runs of a 0.1 s hop (benchmarks/desktop_app.py)
UI_INTERVAL_MS = 50  # the UI takes results 20 times a second, and redraws when an estimate came
STALL_SECONDS = 2.0  # a live input silent this long (no callback at all) has failed
LEVEL_FLOOR_DB = -80
BANNER_LINES = 3  # problems the banner keeps (newest last) until dismissed
LIVE = "live"


class MainWindow(QMainWindow):
    """Input picker, start/stop, level meter, plots and the category hint; files by menu or drop; the
    speaker's calibration (Speaker menu), for models with a level normalisation.

    Args:
        settings: where the device, model folder, gate level, last folder and calibration persist.
        backend: the audio inputs (`SoundDeviceBackend`, or `FileBackend` in tests and demos).
        model_dir: the model folder to load instead of the one in `settings`.
    """

    def __init__(self, settings: Settings, backend: AudioBackend, model_dir: str | Path | None = None):
        super().__init__()
        self.settings, self.backend = settings, backend
        self.model_dir: Path | None = None
        self.recognizer: StreamingRecognizer | None = None
        self.session: LiveSession | None = None
        self.trajectory: list[Prediction] = []  # the live session's or the file's, NaN where gated
        self.trajectory_name = ""
        self.drawn: deque[tuple[float, float]] = deque(maxlen=10000)  # (chunk arrival, its points plotted)
        self._arrivals: list[float] = []
        self._analysis: tuple[Path, Future, threading.Event] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._build()
        if not self.load_model(model_dir if model_dir is not None else self.settings.model_path) and model_dir is None:
            self.load_model(DEFAULT_MODEL)  # the remembered folder is gone: the model label names the default
        self._use_calibration()  # also without a model: nothing to calibrate
        self.refresh_devices()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(UI_INTERVAL_MS)

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        self.setWindowTitle("keras-cpc: speech emotion")
        self.setAcceptDrops(True)
        self.resize(1200, 720)
        menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in [("&Open audio file…", QKeySequence.StandardKey.Open, self._open_dialog),
                                     ("Choose &model folder…", None, self._model_dialog),
                                     ("Export trajectory as &CSV…", None, self._csv_dialog),
                                     ("Export plots as &PNG…", None, self._png_dialog),
                                     ("&Quit", QKeySequence.StandardKey.Quit, self.close)]:
            action = QAction(text, self, triggered=slot)
            if shortcut is not None:
                action.setShortcut(shortcut)
            menu.addAction(action)
        samples = menu.addMenu("Try a &sample (RAVDESS actor 2, not seen in training)")
        for path in sorted(SAMPLE_CLIPS.glob("*.flac")):
            samples.addAction(QAction(ravdess_category(path), self,
                                      triggered=lambda _=False, path=path: self.analyze_path(path)))
        self.calibrate_action = QAction("&Calibrate…", self, triggered=self.start_calibration)
        self.calibrate_action.setToolTip(f"Read a short text aloud for {SECONDS:.0f} s: live sessions then start "
                                         "from your speech level and voice, and keep adapting as you speak")
        self.clear_calibration_action = QAction("C&lear calibration", self, triggered=self.clear_calibration)
        self.menuBar().addMenu("&Speaker").addActions([self.calibrate_action, self.clear_calibration_action])

        self.device_box = QComboBox(minimumWidth=260)
        self.device_box.currentTextChanged.connect(self._device_chosen)
        refresh = QPushButton("Refresh", clicked=lambda _=False: self.refresh_devices(rescan=True))
        self.start_button = QPushButton("Start", clicked=self.toggle_live)
        self.level_meter = QProgressBar(minimum=LEVEL_FLOOR_DB, maximum=0, value=LEVEL_FLOOR_DB,
                                        format="%v dBFS", maximumWidth=180)
        self.gate_box = QDoubleSpinBox(minimum=-90, maximum=0, singleStep=1, decimals=0, suffix=" dBFS",
                                       value=self.settings.gate_db)
        self.gate_box.valueChanged.connect(self._gate_changed)
        self.record_box = QCheckBox("Record to WAV")
        calibrate = QToolButton()
        calibrate.setDefaultAction(self.calibrate_action)
        controls = QHBoxLayout()
        for widget in (QLabel("Input:"), self.device_box, refresh, self.start_button, QLabel("Level:"),
                       self.level_meter, QLabel("Speech above:"), self.gate_box, self.record_box, calibrate):
            controls.addWidget(widget)
        controls.addStretch()

        self.banner = QLabel(wordWrap=True, visible=False)
        self.banner.setStyleSheet("background: #fde2e1; color: #8a1c17; padding: 6px; border-radius: 4px")
        self.banner.mousePressEvent = lambda event: self.banner.hide()
        self.banner.setToolTip("Click to dismiss")
        self.model_label = QLabel(wordWrap=True)
        self._build_calibration()
        self.time_plots = TimePlots()
        self.plane = PlanePlot()
        self.category_label = QLabel("—", alignment=Qt.AlignmentFlag.AlignCenter)
        self.category_label.setStyleSheet("font-size: 22pt; font-weight: bold")
        self.summary_label = QLabel(wordWrap=True)
        self.summary_label.setMinimumHeight(3 * self.summary_label.fontMetrics().lineSpacing())  # a wrapped summary
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.plane, stretch=1)
        for widget in (QLabel("Nearest category (Russell & Mehrabian 1977):"), self.category_label,
                       self.summary_label):
            side_layout.addWidget(widget)
        self.plots = QSplitter()
        self.plots.addWidget(self.time_plots)
        self.plots.addWidget(side)
        self.plots.setSizes([760, 440])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(controls)
        layout.addWidget(self.banner)
        layout.addWidget(self.model_label)
        layout.addWidget(self.calibration_panel)
        layout.addWidget(self.plots, stretch=1)
        self.setCentralWidget(central)

    def _build_calibration(self) -> None:
        """The calibration's panel (the text to read and the progress, shown while it records) and state."""
        self.calibration_panel = QWidget(visible=False, objectName="calibration")
        self.calibration_panel.setStyleSheet("#calibration { background: #e6eefb; border-radius: 4px }")
        passage = QLabel(PASSAGE, wordWrap=True)
        passage.setStyleSheet("font-size: 15pt")
        self.calibration_progress = QProgressBar()
        cancel = QPushButton("Cancel", clicked=lambda _=False: self.stop_live())
        progress = QHBoxLayout()
        progress.addWidget(self.calibration_progress, stretch=1)
        progress.addWidget(cancel)
        panel = QVBoxLayout(self.calibration_panel)
        panel.addWidget(QLabel("Calibration: read this aloud in your usual voice, as you would speak in a session."))
        panel.addWidget(passage)
        panel.addLayout(progress)
        self.calibration_label = QLabel()
        self.calibration_label.setToolTip("The live input's speech level is normalised for the model: calibrated, "
                                          "a session starts from your level; else it adapts during its first seconds")
        self.statusBar().addPermanentWidget(self.calibration_label)
        self.suppression_label = QLabel()
        self.suppression_label.setToolTip("The model's noise suppression (WebRTC's) turns on while the input's noise "
                                          "floor is high: it helps in steady noise and stays off in quiet rooms")
        self.statusBar().addPermanentWidget(self.suppression_label)

    def show_message(self, text: str) -> None:
        """Shows a problem in the banner above the plots, below those shown since it was last
        dismissed (the newest `BANNER_LINES`), until dismissed."""
        shown = [line for line in self.message().split("\n") if line and line != text]
        self.banner.setText("\n".join([*shown, text][-BANNER_LINES:]))
        self.banner.show()

    def message(self) -> str:
        """The banner's text ("" when hidden)."""
        return self.banner.text() if self.banner.isVisibleTo(self) else ""

    # -- model ---------------------------------------------------------------------------------

    def load_model(self, folder: str | Path) -> bool:
        """Loads an exported model folder; keeps the previous model and says why when it cannot."""
        folder = Path(folder)
        try:
            if not folder.is_dir():
                raise ModelError(f"{folder} does not exist (the default model is {DEFAULT_MODEL})")
            recognizer = StreamingRecognizer(folder)
            recognizer.interval = recognizer.hop_seconds * max(1, round(LIVE_INTERVAL / recognizer.hop_seconds))
        except ModelError as error:
            self.show_message(f"Not a model folder: {error}. Choose one with File ▸ Choose model folder…")
            if self.recognizer is None:
                self.model_label.setText(f"<b>No model</b>: {error}. Live input shows the level only "
                                         "until you choose a model folder (File ▸ Choose model folder…).")
            return False
        self._cancel_analysis()  # a file's trajectory and summary come from the model on show
        self.recognizer, self.model_dir = recognizer, folder
        self.settings.model_path = str(folder.resolve())  # the same folder from any working directory
        config = recognizer.config
        quantization = " / ".join(config.get("quantization", {}).values()) or "?"
        self.model_label.setText(f"Model: {folder} ({quantization}; trained on "
                                 f"{config.get('training_data', 'unspecified')})")
        if self.session is not None:  # the trajectory so far stays (to export); the next Start uses the new model
            self.stop_live(f"{'Calibration' if self.calibrating else 'Live input'} stopped: {folder} is used "
                           "from the next Start.")
        self._use_calibration()
        self._show_suppression()
        return True

    # -- live input ----------------------------------------------------------------------------

    def refresh_devices(self, rescan: bool = False) -> None:
        """Lists the input devices (with `rescan`, also those plugged in since start-up, unless the
        live input is running); says so when there is no way to get live audio."""
        try:
            devices = self.backend.input_devices(rescan=rescan and self.session is None)
        except AudioInputError as error:
            devices = []
            self.show_message(str(error))
        else:
            if not devices:
                self.show_message("No audio input device found: connect one and press Refresh. "
                                  "Opening audio files still works.")
        remembered = self.settings.device
        self.device_box.blockSignals(True)
        self.device_box.clear()
        self.device_box.addItems(devices)
        if remembered in devices:
            self.device_box.setCurrentText(remembered)
        self.device_box.blockSignals(False)
        self.start_button.setEnabled(bool(devices) or self.session is not None)

    def toggle_live(self) -> None:
        """Start, or stop, the live input."""
        self.stop_live() if self.session is not None else self.start_live()

    def start_live(self) -> bool:
        """Starts capturing from the chosen device; returns False (with a message) when it cannot."""
        stream = GatedStream(self.recognizer, SpeechGate(self.gate_box.value())) if self.recognizer else None
        record_to = Path(self.settings.last_folder) / f"session-{datetime.now():%Y%m%d-%H%M%S}.wav" \
            if self.record_box.isChecked() else None
        if not self._start_session(stream, record_to):
            return False
        self._cancel_analysis()
        self.trajectory, self.trajectory_name = [], LIVE
        self.summary_label.setText(f"Recording to {record_to}" if record_to else "")
        self._redraw()
        return True

    def _start_session(self, stream: Stream | None, record_to: Path | None = None) -> bool:
        """Starts the chosen device feeding `stream`; returns False (with a message) when it cannot."""
        device = self.device_box.currentText()
        try:
            session = LiveSession(self.backend.source(device), stream, record_to)
            session.start()
        except (AudioInputError, RuntimeError, OSError, KeyError) as error:
            self.show_message(f"Cannot start the input {device!r}: {error}")
            return False
        self.session = session
        self.start_button.setText("Stop")
        self.device_box.setEnabled(False)  # the session's device, until it stops
        return True

    def stop_live(self, message: str | None = None) -> None:
        """Stops the live input (the last partial hop is estimated) or the calibration; `message` says why, if
        not asked."""
        if self.session is None:
            return
        session, self.session = self.session, None
        stopped = self._take(session.stop())
        message = message or (stopped.error if stopped else None)  # e.g. the recording could not be completed
        self.start_button.setText("Start")
        self.start_button.setEnabled(self.device_box.count() > 0)
        self.device_box.setEnabled(True)
        self.level_meter.setValue(LEVEL_FLOOR_DB)
        if isinstance(session.stream, CalibrationRecorder):
            self._end_calibration(session.stream, message)
        else:
            self.summary_label.setText(f"Live: {summarize(self.trajectory, self.window_seconds)}"
                                       + (f"; recorded to {session.record_to}" if session.record_to else ""))
            if message:
                self.show_message(message)
        self._use_calibration()  # a calibration just saved, or one cleared while the input ran
        self._show_suppression()

    @property
    def window_seconds(self) -> float:
        """Seconds the model's window holds (none loaded: no window is ever full)."""
        return self.recognizer.window_seconds if self.recognizer is not None else math.inf

    @property
    def recording_path(self) -> Path | None:
        """The WAV file the live session records to."""
        return self.session.record_to if self.session else None

    def _take(self, results: list[Update | Stopped]) -> Stopped | None:
        """Adds the session's results to the trajectory; returns its stop notice, if any."""
        stopped = None
        for result in results:
            if isinstance(result, Stopped):
                stopped = result
                continue
            self.trajectory += result.predictions
            if result.predictions:
                self._arrivals.append(result.arrival)
            self.level_meter.setValue(max(LEVEL_FLOOR_DB, round(result.level_db)))
        return stopped

    def _tick(self) -> None:
        if self.session is not None:
            stopped = self._take(self.session.poll())
            if stopped is not None:
                self.stop_live(stopped.error)
            elif time.perf_counter() - self.session.last_arrival > STALL_SECONDS:
                self.stop_live(f"No audio from {self.device_box.currentText()!r} for {STALL_SECONDS:.0f} s: "
                               "the device stopped (disconnected?). Press Refresh, then Start, to try again.")
            elif self.calibrating:
                self._show_calibration_progress(self.session.stream)
        if self._analysis is not None and self._analysis[1].done():
            self._finish_analysis()
        if self._arrivals:
            self._redraw()

    def _redraw(self) -> None:
        live = self.trajectory_name == LIVE
        if live:
            interval = self.recognizer.interval if self.recognizer else LIVE_INTERVAL
            self.time_plots.set_trajectory(self.trajectory[-math.ceil(LIVE_SPAN / interval) - 1:], LIVE_SPAN)
            self.plane.set_trajectory(self.trajectory[-math.ceil(TRAIL_SECONDS / interval):])
        else:
            self.time_plots.set_trajectory(self.trajectory)
            self.plane.set_trajectory(self.trajectory)
        # live: the newest estimate ("—" while gated); a file: the mean of its summary estimates
        shown = estimates(self.trajectory[-1:]) if live else summary_estimates(self.trajectory, self.window_seconds)
        self.category_label.setText(nearest_category(*shown.mean(axis=0)) if len(shown) else "—")
        now = time.perf_counter()
        self.drawn.extend((arrival, now) for arrival in self._arrivals)
        self._arrivals.clear()
        if live and self.drawn:
            overflows = self.session.source.overflows if self.session is not None else 0
            lost = f"; audio lost {overflows} time(s): the input was not read in time" if overflows else ""
            self.statusBar().showMessage(f"latency {1000 * (now - self.drawn[-1][0]):.0f} ms{lost}")
            self._show_suppression()

    def _show_suppression(self) -> None:
        """The model's noise suppression in the status bar: while live, the level it applies now."""
        asked = self.recognizer.suppression if self.recognizer is not None else None
        self.suppression_label.setVisible(asked is not None)
        if asked is None:
            return
        suppressor = self.recognizer.suppressor
        if suppressor is None:
            text = f"unavailable on this platform (no {self.recognizer.suppression_missing})"
        elif self.session is None or self.calibrating:
            text = "on in noisy input" if asked.gate_snr_db is not None else "always on"
        elif suppressor.active_level is None:
            text = "off (the input is not noisy)"
        else:
            name = "RNNoise" if suppressor.active_level == RNNOISE else f"level {suppressor.active_level}"
            text = name + {asked.steady_level: " (steady noise)",
                           asked.low_snr_level: " (steady noise, low SNR)"}.get(suppressor.active_level, "")
        if suppressor is not None and self.recognizer.suppression_missing:  # RNNoise's wheel
            text += f"; no RNNoise here (no {self.recognizer.suppression_missing})"
        self.suppression_label.setText(f"Noise suppression: {text}")

    def _device_chosen(self, device: str) -> None:
        if device:
            self.settings.device = device

    def _gate_changed(self, level: float) -> None:
        self.settings.gate_db = level
        if self.session is not None and isinstance(self.session.stream, GatedStream):
            self.session.stream.gate.threshold_db = level

    # -- speaker calibration -------------------------------------------------------------------

    @property
    def calibrating(self) -> bool:
        """Whether the input is recording a calibration."""
        return self.session is not None and isinstance(self.session.stream, CalibrationRecorder)

    def start_calibration(self) -> bool:
        """Records the chosen input (stopping the live one) while the user reads `PASSAGE` aloud; its speech
        level is saved when the recording is complete. Returns False (with a message) when it cannot start."""
        if self.recognizer is None or self.recognizer.level is None:  # also what features are normalised with
            self.show_message(f"Cannot calibrate: {NO_LEVEL} ({self.model_dir or 'no model loaded'}).")
            return False
        self.stop_live()
        recorder = CalibrationRecorder(self.recognizer.sample_rate)
        if not self._start_session(recorder):
            return False
        self.calibration_progress.setMaximum(round(10 * recorder.seconds))  # tenths of a second
        self._show_calibration_progress(recorder)
        self.calibration_panel.show()
        self.calibrate_action.setEnabled(False)
        return True

    def clear_calibration(self) -> None:
        """Forgets the saved calibration: live sessions adapt to the speech level as it comes in."""
        self.settings.calibration = None
        self._use_calibration()

    def _show_calibration_progress(self, recorder: CalibrationRecorder) -> None:
        """Shows the seconds recorded; saves the calibration once they are all there."""
        self.calibration_progress.setValue(round(10 * recorder.seconds_recorded))
        self.calibration_progress.setFormat(f"{recorder.seconds_recorded:.1f} of {recorder.seconds:.0f} s recorded")
        if recorder.done:
            self.stop_live()

    def _end_calibration(self, recorder: CalibrationRecorder, message: str | None) -> None:
        """After a calibration's input stopped: saves its level if it is complete; else says why not."""
        self.calibration_panel.hide()
        if message:
            self.show_message(f"{message} No calibration was saved.")
        elif recorder.done:
            self._save_calibration(recorder)
        else:
            self.statusBar().showMessage(f"Calibration stopped after {recorder.seconds_recorded:.1f} of "
                                         f"{recorder.seconds:.0f} s: none was saved.", 10000)

    def _save_calibration(self, recorder: CalibrationRecorder) -> None:
        """Saves the speech level of a complete calibration recording (and, for a model that normalises features
        per speaker, its contexts' statistics), or says why it has none."""
        try:
            measure_level(recorder.audio(), self.recognizer.level.settings, recorder.sample_rate,
                          floor_dbfs=self.gate_box.value() - HYSTERESIS_DB)
        except NoSpeechError as error:
            kept = "the previous calibration stays" if self.settings.calibration else "none was saved"
            self.show_message(f"Calibration: the recording {error}. Read the text aloud, closer to the microphone "
                              f"(or lower “Speech above”), and try again; {kept}.")
            return
        level, features = self.recognizer.calibrate_speaker(lambda: [[recorder.audio()]])
        self.settings.calibration = Calibration(
            round(level, 2), date.today().isoformat(),
            features and tuple(statistic.tolist() for statistic in features), self.model_version)

    def _use_calibration(self) -> None:
        """Makes the saved calibration (if any) where the model's level normalisation (worth the model's
        `prior_seconds`) and feature statistics (worth the `SECONDS` of speech it measured) start, unless the live
        input runs (the next Start takes it); shows it, and which calibration actions apply."""
        level = self.recognizer.level if self.recognizer is not None else None
        calibration = self.settings.calibration
        if level is not None and self.session is None:
            self.recognizer.calibrate(calibration.level_dbfs if calibration else None,
                                      self._saved_features(calibration), feature_seconds=SECONDS)
        self.calibrate_action.setEnabled(level is not None and not self.calibrating)
        self.clear_calibration_action.setEnabled(level is not None and calibration is not None)
        self.calibration_label.setVisible(level is not None)
        self.calibration_label.setText(
            (f"Calibrated: {calibration.level_dbfs:.0f} dBFS speech level ({calibration.date})" if calibration
             else "Not calibrated: adapts as you speak") + (" (from the next Start)" if self.session else ""))

    def _saved_features(self, calibration: Calibration | None) -> tuple[list[float], list[float]] | None:
        """The saved feature statistics if they were measured with this model's features; else `None`: the session's
        own running statistics (another model's contexts differ, and may differ in size)."""
        if calibration is None or calibration.features is None or calibration.model_version != self.model_version:
            return None
        return calibration.features if len(calibration.features[0]) == self.recognizer.config["feature_size"] else None

    @property
    def model_version(self) -> str:
        """The loaded model's `model.json` `model_version` (empty without a model)."""
        return str(self.recognizer.config.get("model_version", "")) if self.recognizer is not None else ""

    # -- files ---------------------------------------------------------------------------------

    def analyze_path(self, path: str | Path) -> bool:
        """Starts analysing a whole file on a worker thread (stops the live input). The speaker's calibration
        does not apply: a file's level is its recording's."""
        path = Path(path)
        if self.model_dir is None:
            self.show_message("Analysing a file needs a model: choose one (File ▸ Choose model folder…).")
            return False
        self.stop_live()
        self._cancel_analysis()
        model_dir, stop = self.model_dir, threading.Event()
        self._analysis = path, self._executor.submit(lambda: analyze_file(StreamingRecognizer(model_dir), path,
                                                                          stop)), stop
        self.summary_label.setText(f"Analysing {path.name}…")
        return True

    @property
    def analysing(self) -> bool:
        """Whether a file analysis is running."""
        return self._analysis is not None

    def _cancel_analysis(self) -> None:
        """Stops a running analysis at its next block (a queued one does not start)."""
        if self._analysis is not None:
            _, future, stop = self._analysis
            stop.set()
            future.cancel()
            self._analysis = None
            self.summary_label.setText("")

    def _finish_analysis(self) -> None:
        (path, future, _), self._analysis = self._analysis, None
        try:
            predictions = future.result()
        except AnalysisError as error:  # bad audio: show what came before the problem, if anything
            predictions = error.predictions
            self.show_message(f"Cannot analyse {path}: {error}"
                              + (f"; showing its first {predictions[-1].time:.1f} s" if predictions else ""))
            if not predictions:
                self.summary_label.setText("")
                return
        except Exception as error:  # a ModelError, or anything else: say it, go on
            self.summary_label.setText("")
            self.show_message(f"Cannot analyse {path}: {error}")
            return
        self.trajectory, self.trajectory_name = predictions, str(path)
        self.summary_label.setText(f"{path.name}: {summarize(predictions, self.window_seconds)}")
        self.statusBar().clearMessage()
        self._redraw()

    def export_csv(self, path: str | Path) -> bool:
        """Writes the trajectory on screen (file, time and the three dimensions per hop)."""
        if not self.trajectory:
            self.show_message("Nothing to export yet: start the live input or open an audio file.")
            return False
        try:
            write_csv(path, {self.trajectory_name: self.trajectory})
        except OSError as error:
            self.show_message(f"Cannot write {path}: {error}")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def export_png(self, path: str | Path) -> bool:
        """Saves the plots, as on screen, as an image."""
        if not self.plots.grab().save(str(path)):
            self.show_message(f"Cannot write the image {path}.")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_audio(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_audio(event)
        if path is not None:
            event.acceptProposedAction()
            self._analyze_chosen(path)

    @staticmethod
    def _dropped_audio(event: QDropEvent | QDragEnterEvent) -> Path | None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        return next((p for p in paths if p.suffix.lower() in AUDIO_EXTENSIONS), None)

    def _open_dialog(self) -> None:
        filters = "Audio (" + " ".join(f"*{e}" for e in AUDIO_EXTENSIONS) + ");;All files (*)"
        path, _ = QFileDialog.getOpenFileName(self, "Open audio file", self.settings.last_folder, filters)
        if path:
            self._analyze_chosen(path)

    def _analyze_chosen(self, path: str | Path) -> None:
        """Analyses a file the user chose; its folder is where dialogs and recordings go next
        (a bundled sample's is not: recordings must not land among the shipped clips)."""
        self.settings.last_folder = str(Path(path).parent)
        self.analyze_path(path)

    def _model_dialog(self) -> None:
        start = str(self.model_dir or self.settings.last_folder)
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder (from training.export)", start)
        if folder:
            self.load_model(folder)

    def _save_dialog(self, title: str, name: str, filters: str, export: Callable[[str], bool]) -> None:
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(self.settings.last_folder) / name), filters)
        if path:
            self.settings.last_folder = str(Path(path).parent)
            export(path)

    def _csv_dialog(self) -> None:
        self._save_dialog("Export trajectory", "emotions.csv", "CSV (*.csv)", self.export_csv)

    def _png_dialog(self) -> None:
        self._save_dialog("Export plots", "emotions.png", "PNG (*.png)", self.export_png)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._timer.stop()
        self.stop_live()
        self._cancel_analysis()
        self._executor.shutdown(wait=False, cancel_futures=True)
        super().closeEvent(event)
