"""What the package carries besides code: the default model and the sample clips of the app's sample menu.

They stay in the repository's `assets/`, which `pyproject.toml` maps onto the package `keras_cpc_assets`:
`importlib.resources` finds them there in an editable install and in site-packages from the wheel.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

ASSETS = Path(files("keras_cpc_assets"))  # type: ignore[arg-type]  (a folder: the package is never zipped)
DEFAULT_MODEL = ASSETS / "models" / "emotion" / "int8"
SAMPLE_CLIPS = ASSETS / "samples" / "ravdess" / "Actor_02"  # held out of the default model's training
