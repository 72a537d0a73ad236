"""The app's persistent settings (QSettings): input device, model folder, gate level, last folder, calibration."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QSettings

from app.engine.bundled import DEFAULT_MODEL

DEFAULT_GATE_DB = -45.0


class Setting:
    """A typed QSettings value, read and written as an attribute of `Settings`."""

    def __init__(self, key: str, default: str | float):
        self.key, self.default = key, default

    def __get__(self, settings: Settings, owner: type) -> str | float:
        return settings.store.value(self.key, self.default, type(self.default))

    def __set__(self, settings: Settings, value: str | float) -> None:
        settings.store.setValue(self.key, value)


class Calibration(NamedTuple):
    """The user's speech level (dBFS) as the calibration measured it, and its day (ISO)."""

    level_dbfs: float
    date: str


class Settings:
    """Wraps a `QSettings` (the user's, or a file of its own in tests and scripts)."""

    device = Setting("input/device", "")
    model_path = Setting("model/path", str(DEFAULT_MODEL))
    gate_db = Setting("input/gate_db", DEFAULT_GATE_DB)
    last_folder = Setting("files/last_folder", str(Path.home()))

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings("keras-cpc", "emotion-app")

    @property
    def calibration(self) -> Calibration | None:
        """The saved calibration; `None` when there is none (or it is not a number: edited by hand)."""
        try:
            level = float(self.store.value("calibration/level_dbfs"))
        except (TypeError, ValueError):
            return None
        return Calibration(level, str(self.store.value("calibration/date", ""))) if math.isfinite(level) else None

    @calibration.setter
    def calibration(self, calibration: Calibration | None) -> None:
        """Saves a calibration; `None` removes it."""
        self.store.remove("calibration")
        if calibration is not None:
            self.store.setValue("calibration/level_dbfs", calibration.level_dbfs)
            self.store.setValue("calibration/date", calibration.date)

    @classmethod
    def in_file(cls, path: str | Path) -> Settings:
        """Settings kept in an INI file of their own."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))
