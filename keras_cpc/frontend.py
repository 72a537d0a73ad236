"""A recorded front end: the `frontend` entry of a recognizer's config and of `model.json`, one part per stage
(`level`, `speech_frames`, `suppression`), each the fields of its stage's frozen settings dataclass."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeVar

Settings = TypeVar("Settings")


def part_config(name: str, settings: Any | None) -> dict:
    """A stage's part of a recorded front end: `{name: {...}}`, or `{}` for a stage it does not run."""
    return {name: asdict(settings)} if settings is not None else {}


def part_settings(frontend: dict | None, name: str, settings_type: type[Settings], what: str,
                  defaults: dict | None = None) -> Settings | None:
    """A stage's settings from a recorded front end, `defaults` under the recorded fields (for records older than a
    field); `None` when the front end does not run the stage. Unknown fields are a `ValueError` naming `what`."""
    recorded = (frontend or {}).get(name)
    if recorded is None:
        return None
    try:
        return settings_type(**(defaults or {}) | recorded)
    except TypeError as error:
        raise ValueError(f"unknown {what} settings {recorded} ({error})") from None
