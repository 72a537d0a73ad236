"""Screenshots of the window in use, for the docs (offscreen; no display or sound device needed).

    python -m tools.screenshots --model runs/export/int8 --out docs/figures

Writes `app_live.png` (bundled RAVDESS clips of actor 2, whom the default model never heard:
angry, sad, happy and calm with pauses, played as the live input through `app.file_input`) and
`app_file.png` (the angry clip opened as a file). Settings go to a temporary file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.engine.analysis import read_blocks  # noqa: E402
from app.engine.bundled import DEFAULT_MODEL, SAMPLE_CLIPS  # noqa: E402
from app.engine.categories import ravdess_category  # noqa: E402
from app.file_input import FileBackend, FileSource  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.window import MainWindow  # noqa: E402
from keras_cpc.audio import audio_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RATE = 16000


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    """Runs the event loop until `condition()` holds; `TimeoutError` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        QApplication.processEvents()
        time.sleep(0.01)


def speech_with_pauses(clips: list[Path], pause: float) -> np.ndarray:
    """The clips one after another at 16 kHz, `pause` seconds of silence between them."""
    silence = np.zeros(round(pause * RATE), np.float32)
    parts = [np.concatenate(list(read_blocks(clip, RATE))) for clip in clips]
    return np.concatenate([part for clip in parts for part in (clip, silence)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder from training.export")
    parser.add_argument("--out", default=str(REPO / "docs" / "figures"), help="folder of the PNG files")
    parser.add_argument("--live-seconds", type=float, default=15.0, help="audio played before the live shot")
    parser.add_argument("--speed", type=float, default=2.0, help="how much faster than real time to play it")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clips = {ravdess_category(clip): clip for clip in audio_files([str(SAMPLE_CLIPS)])}
    application = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.in_file(Path(folder) / "settings.ini")
        settings.last_folder = str(SAMPLE_CLIPS)
        audio = speech_with_pauses([clips[name] for name in ("angry", "sad", "happy", "calm")], pause=1.0)
        source = FileSource(audio, RATE, speed=args.speed)
        backend = FileBackend({"RAVDESS actor 2: angry, sad, happy, calm (played as a microphone)": source})
        window = MainWindow(settings, backend, args.model)
        window.resize(1280, 760)
        window.show()
        if window.recognizer is None:
            parser.exit(2, f"{parser.prog}: error: {window.message()}\n")
        window.start_live()
        estimates = round(args.live_seconds / window.recognizer.interval)
        wait_until(lambda: len(window.trajectory) >= estimates and not np.isnan(window.trajectory[-1].valence),
                   timeout=2 * args.live_seconds / args.speed + 30)  # a moment of speech
        window.grab().save(str(out / "app_live.png"))
        window.stop_live()
        window.analyze_path(clips["angry"])
        wait_until(lambda: not window.analysing, timeout=60)
        window.grab().save(str(out / "app_file.png"))
        window.close()
    del application
    print(f"wrote {out / 'app_live.png'} and {out / 'app_file.png'}")


if __name__ == "__main__":
    main()
