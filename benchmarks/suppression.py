"""The noise suppressor alone: the real-time factor of `keras_cpc.suppression.suppress_noise` for each way the front
end can run it, on speech under steady noise (so that the gate opens), against another version of the module
measured in the same run:

    PYTHONPATH=. python benchmarks/suppression.py [--baseline OLD_SUPPRESSION.py] [--seconds 30] [--condition pink-10db]
        [--json results.json]

e.g. the module of session 34: `git show 76ff490:keras_cpc/suppression.py > /tmp/suppression34.py`. The engine's
whole cost with the suppressor is `benchmarks/inference.py`'s.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from dataclasses import fields
from types import ModuleType

import numpy as np

from keras_cpc import suppression
from keras_cpc.audio import SAMPLE_RATE, audio_files, load_audio
from keras_cpc.channels import apply_condition
from report import machine, save  # benchmarks/report.py

VARIANTS = {"level 2, always": {"gate_snr_db": None}, "level 2, gated": {}, "level 2, steady 4": {"steady_level": 4},
            "level 2, steady RNNoise": {"steady_level": "rnnoise"},
            "level 2, steady 4, loud steady RNNoise": {"steady_level": 4, "low_snr_level": "rnnoise"}}
REPEATS = 3


def load_module(path: str) -> ModuleType:
    """Another version of `keras_cpc.suppression`, from its file."""
    spec = importlib.util.spec_from_file_location("baseline_suppression", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_audio(seconds: float, condition: str) -> np.ndarray:
    """The bundled sample clips, tiled to `seconds`, through `condition` (`keras_cpc.channels`)."""
    speech = np.concatenate([load_audio(path) for path in audio_files(["assets/samples"])])
    return apply_condition(condition, np.resize(speech, round(seconds * SAMPLE_RATE)), seed=0)


def real_time_factor(module: ModuleType, options: dict, audio: np.ndarray) -> float | None:
    """The median over `REPEATS` runs of the seconds per second of audio; None where `module` lacks an option."""
    known = {field.name for field in fields(module.SuppressionSettings)}
    if not set(options) <= known:
        return None
    try:
        settings = module.SuppressionSettings(**options)
    except ValueError:  # a value it does not know
        return None
    seconds = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        module.suppress_noise(audio, settings)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)) * SAMPLE_RATE / len(audio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="another version of keras_cpc/suppression.py to measure beside it")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the test audio")
    parser.add_argument("--condition", default="pink-10db", help="the noise the speech is under (keras_cpc.channels)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    audio = test_audio(args.seconds, args.condition)
    modules = {"keras_cpc.suppression": suppression}
    if args.baseline:
        modules[args.baseline] = load_module(args.baseline)
    results = {name: {variant: real_time_factor(module, options, audio) for variant, options in VARIANTS.items()}
               for name, module in modules.items()}
    print("| module | " + " | ".join(f"RTF {variant}" for variant in VARIANTS) + " |")
    print("|---|" + "---:|" * len(VARIANTS))
    for name, rtfs in results.items():
        print(f"| {name} | " + " | ".join("—" if rtf is None else f"{rtf:.4f}" for rtf in rtfs.values()) + " |")
    save({"machine": machine("not used"), "seconds": args.seconds, "condition": args.condition,
          "real_time_factor": results}, args.json)


if __name__ == "__main__":
    main()
