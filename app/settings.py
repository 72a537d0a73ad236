"""The app's persistent settings (QSettings): input device, model folder, gate level, last folder, calibration."""

from __future__ import annotations

import json
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
    """The user's speech level (dBFS) as the calibration measured it, its day (ISO), and for models that normalise
    features per speaker, the mean and variance of the user's contexts and the model they were measured with
    (its `model.json` `model_version`: other models' contexts differ)."""

    level_dbfs: float
    date: str
    features: tuple[list[float], list[float]] | None = None
    model_version: str = ""


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
        if not math.isfinite(level):
            return None
        try:
            features = tuple(json.loads(self.store.value("calibration/features", "null")) or ()) or None
        except (TypeError, ValueError):  # edited by hand: the level alone
            features = None
        return Calibration(level, str(self.store.value("calibration/date", "")), features,
                           str(self.store.value("calibration/model_version", "")))

    @calibration.setter
    def calibration(self, calibration: Calibration | None) -> None:
        """Saves a calibration; `None` removes it."""
        self.store.remove("calibration")
        if calibration is not None:
            self.store.setValue("calibration/level_dbfs", calibration.level_dbfs)
            self.store.setValue("calibration/date", calibration.date)
            if calibration.features is not None:
                self.store.setValue("calibration/features", json.dumps(list(calibration.features)))
                self.store.setValue("calibration/model_version", calibration.model_version)

    @classmethod
    def in_file(cls, path: str | Path) -> Settings:
        """Settings kept in an INI file of their own."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))
