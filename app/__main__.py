"""`python -m app` (or `cpc-app`): the desktop app of live speech emotion estimates.

Without `--input-file` the live input is a sound device (PortAudio, through sounddevice);
with it, the file plays as the input, in real time. Settings persist between runs.
"""

from __future__ import annotations

import argparse
import sys

import soundfile
from PySide6.QtWidgets import QApplication

from app.audio_input import SoundDeviceBackend
from app.file_input import FileBackend, FileSource
from app.settings import Settings
from app.window import MainWindow


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder from training.export (default: the last one used, "
                                        "else the bundled one, assets/models/emotion/int8)")
    parser.add_argument("--input-file", metavar="AUDIO", help="play this file as the live input")
    parser.add_argument("--settings", metavar="INI", help="keep the settings in this file instead of the user's")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    application = QApplication(sys.argv[:1])
    application.setApplicationName("keras-cpc emotion")
    backend = SoundDeviceBackend()
    if args.input_file:
        try:
            backend = FileBackend({f"file: {args.input_file}": FileSource.from_file(args.input_file)})
        except (soundfile.LibsndfileError, OSError, TypeError) as error:  # TypeError: headerless .raw
            build_parser().error(f"cannot read --input-file: {error}")
    settings = Settings.in_file(args.settings) if args.settings else Settings()
    window = MainWindow(settings, backend, args.model)
    window.show()
    return application.exec()


if __name__ == "__main__":
    sys.exit(main())
