"""Reading a saved model of a given kind: every problem is one `ModelFileError` naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import keras

Model = TypeVar("Model", bound=keras.Model)


class ModelFileError(ValueError):
    """A model file that is missing, not a file, unreadable or not the model asked for; the message names it."""


def load_model_file(path: str | Path, *kinds: type[Model], compile: bool = True) -> Model:
    """The Keras model saved at `path`, which must be one of `kinds`; anything else is a `ModelFileError`."""
    path = Path(path)
    wanted = " or ".join(f"{'an' if kind.__name__[0] in 'AEIOU' else 'a'} {kind.__name__}" for kind in kinds)
    if not path.is_file():
        raise ModelFileError(f"{path}: {'a folder' if path.is_dir() else 'no such file'}, not {wanted} (.keras)")
    try:
        model = keras.saving.load_model(path, compile=compile)
    except Exception as error:  # a damaged file raises many kinds, some misleading ("File not found")
        lines = str(error).strip().splitlines()
        detail = f": {lines[0][:200]}" if lines else ""
        raise ModelFileError(f"{path}: not a readable Keras model ({type(error).__name__}{detail})") from None
    if not isinstance(model, kinds):
        raise ModelFileError(f"{path}: a Keras {type(model).__name__}, not {wanted}")
    return model
