"""What every benchmark reports besides its numbers: the machine, and a JSON copy of the results."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def cpu_model() -> str | None:
    """The processor's model name (Linux), which tells machines of the same architecture apart."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def machine(tensorflow_version: str) -> dict[str, str | int | None]:
    """The processor, core count and versions the numbers were measured with."""
    return {"processor": platform.processor() or platform.machine(), "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "tensorflow": tensorflow_version}


def save(report: dict, path: str | None) -> dict:
    """Writes `report` as JSON to `path` (when given) and returns it."""
    if path:
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
    return report
