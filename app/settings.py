"""The app's persistent settings (QSettings): input device, model folder, gate level, last folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "assets" / "models" / "emotion" / "int8"
SAMPLE_CLIPS = REPO / "assets" / "samples" / "ravdess" / "Actor_02"  # held out of the default model's training
DEFAULT_GATE_DB = -45.0


class Setting:
    """A typed QSettings value, read and written as an attribute of `Settings`."""

    def __init__(self, key: str, default: str | float):
        self.key, self.default = key, default

    def __get__(self, settings: Settings, owner: type) -> str | float:
        return settings.store.value(self.key, self.default, type(self.default))

    def __set__(self, settings: Settings, value: str | float) -> None:
        settings.store.setValue(self.key, value)


class Settings:
    """Wraps a `QSettings` (the user's, or a file of its own in tests and scripts)."""

    device = Setting("input/device", "")
    model_path = Setting("model/path", str(DEFAULT_MODEL))
    gate_db = Setting("input/gate_db", DEFAULT_GATE_DB)
    last_folder = Setting("files/last_folder", str(Path.home()))

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings("keras-cpc", "emotion-app")

    @classmethod
    def in_file(cls, path: str | Path) -> Settings:
        """Settings kept in an INI file of their own."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))
