"""The pitch features (`keras_cpc.layers.Pitch`) of one clip, clean and under channels of the protocol: what the head
sees of the prosody when the channel changes.

    PYTHONPATH=. python docs/robustness/pitch_plot.py CLIP OUT.png [CONDITION ...]
"""

from __future__ import annotations

import argparse

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_cpc.audio import load_audio  # noqa: E402
from keras_cpc.channels import apply_condition  # noqa: E402
from keras_cpc.layers import Pitch  # noqa: E402
from keras_cpc.loudness import normalize_level  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip")
    parser.add_argument("out")
    parser.add_argument("conditions", nargs="*", default=["clean", "telephone", "white-10db", "rt60-0.8", "vorbis"],
                        help="conditions of keras_cpc.channels without babble")
    args = parser.parse_args(argv)
    audio = load_audio(args.clip)
    layer = Pitch()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for condition in args.conditions:
        shifted = audio if condition == "clean" else apply_condition(condition, audio, seed=0)
        features = keras.ops.convert_to_numpy(layer(normalize_level(shifted.astype(np.float32))[None]))[0]
        seconds = np.arange(len(features)) * layer.hop / layer.sample_rate
        voicing = features[:, 0]
        pitch = np.where(voicing > 0.5, layer.reference * 2 ** (features[:, 1] / np.maximum(voicing, 1e-9)), np.nan)
        top.plot(seconds, pitch, ".", markersize=3, label=condition)
        bottom.plot(seconds, voicing, linewidth=1, label=condition)
    top.set(ylabel="pitch (Hz), frames with voicing > 0.5", yscale="log", title=args.clip)
    bottom.set(ylabel="voicing", xlabel="seconds")
    top.legend(fontsize=8, ncols=len(args.conditions))
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
