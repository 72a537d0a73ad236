"""CPC pretraining on unlabeled speech: `python -m training.pretrain --data ROOT... --out DIR`.

Writes to `--out`: `checkpoints/` (every epoch, for resuming), `cpc.keras` (the best model by
validation loss), `log.csv`, `tensorboard/` and `curves.png`. Running the same command again
after an interruption resumes from the last finished epoch.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import keras
import tensorflow as tf

from keras_cpc.audio import SAMPLE_RATE
from keras_cpc.callbacks import AudioThroughput, run_callbacks
from keras_cpc.datasets import crop_dataset, find_utterances, split_by_speaker
from keras_cpc.distribute import STRATEGIES, is_chief, make_strategy, worker_id
from keras_cpc.models import CPC
from keras_cpc.plots import plot_pretraining, read_log
from keras_cpc.runs import exclusive_run, resumed_epoch, resumed_seed
from training import fraction, positive, run_cli

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / "assets" / "samples" / "librispeech"

logger = logging.getLogger("training.pretrain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.pretrain", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", nargs="+", default=[str(DEFAULT_DATA)],
                        help="LibriSpeech roots (holding LibriSpeech/<subset>/) or folders of audio files")
    parser.add_argument("--out", default="runs/pretrain", help="output folder (reused to resume)")
    parser.add_argument("--epochs", type=positive(int), default=10)
    parser.add_argument("--steps-per-epoch", type=positive(int), default=None,
                        help="training batches per epoch; default: one pass over the training files")
    parser.add_argument("--batch-size", type=positive(int), default=8, help="global batch size, over all replicas")
    parser.add_argument("--crop-seconds", type=positive(float), default=10.0)
    parser.add_argument("--negatives", type=positive(int), default=50)
    parser.add_argument("--prediction-steps", type=positive(int), default=12)
    parser.add_argument("--encoder-channels", type=positive(int), default=128)
    parser.add_argument("--context-units", type=positive(int), default=256)
    parser.add_argument("--learning-rate", type=positive(float), default=2e-4, help="Adam learning rate")
    parser.add_argument("--validation-fraction", type=fraction, default=0.05,
                        help="fraction of speakers held out for validation")
    parser.add_argument("--validation-steps", type=positive(int), default=None,
                        help="validation batches per epoch; default: the whole held-out set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="Keras progress display")
    return parser


def run_settings(args: argparse.Namespace) -> dict:
    """The options a pretraining run is resumed with (`check_settings`): all but where it writes,
    how it shows progress and how it spreads over devices."""
    return {name: value for name, value in vars(args).items() if name not in {"out", "verbose", "strategy"}}


def pretrain(args: argparse.Namespace, callbacks: Sequence[keras.callbacks.Callback] = ()) -> CPC:
    """Runs (or resumes) the pretraining that `args` describe and returns the trained model.

    `callbacks` run after the run's own ones (after the checkpoint has been restored). One
    process at a time trains into `--out` (each worker of a cluster into its own folder).
    """
    keras.utils.set_random_seed(args.seed)
    # Validation is one pass over a finite dataset; Keras warns each time it ends.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    strategy = make_strategy(args.strategy)
    out = Path(args.out)
    if not is_chief(strategy):
        out = out / "workers" / str(worker_id(strategy))
    with exclusive_run(out):
        return train_cpc(args, strategy, out, callbacks)


def train_cpc(args: argparse.Namespace, strategy: tf.distribute.Strategy, out: Path,
              callbacks: Sequence[keras.callbacks.Callback]) -> CPC:
    utterances = find_utterances(args.data)
    train, validation = split_by_speaker(utterances, args.validation_fraction, args.seed)
    logger.info("%d training and %d validation utterances (%d held-out speakers), %d replica(s)",
                len(train), len(validation), len({u.speaker for u in validation}),
                strategy.num_replicas_in_sync)
    if args.batch_size % strategy.num_replicas_in_sync:
        raise SystemExit(f"--batch-size {args.batch_size} is not divisible by "
                         f"{strategy.num_replicas_in_sync} replicas")

    with strategy.scope():
        model = CPC(
            encoder_channels=args.encoder_channels,
            context_units=args.context_units,
            prediction_steps=args.prediction_steps,
            negatives=args.negatives,
        )
        model.build((None, None))
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    crop_frames = int(round(args.crop_seconds * SAMPLE_RATE))
    if crop_frames < model.min_samples:
        raise SystemExit(f"--crop-seconds {args.crop_seconds} is too short to predict "
                         f"{args.prediction_steps} steps: need {model.min_samples} samples")

    training_seed = resumed_seed(args.seed, resumed_epoch(out))  # a resumed run reads on, not again

    def pipeline(files, training):
        # Each host reads its own share of the training files; every host evaluates the whole
        # (small) validation set, so all hosts run the same number of validation batches.
        def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
            shard = (context.input_pipeline_id, context.num_input_pipelines) if training else (0, 1)
            return crop_dataset(
                [u.path for u in files], context.get_per_replica_batch_size(args.batch_size),
                args.crop_seconds, training_seed if training else args.seed, training,
                model.encoder.receptive_field, shard=shard,
            )
        return strategy.distribute_datasets_from_function(dataset_fn)

    steps = args.steps_per_epoch or max(1, len(train) // args.batch_size)
    log_path = out / "log.csv"
    callbacks = [
        AudioThroughput(args.batch_size * args.crop_seconds),
        *run_callbacks(out, "cpc.keras", "val_loss" if validation else "loss", run_settings(args)),
        keras.callbacks.TensorBoard(out / "tensorboard", profile_batch=0),
        *callbacks,
    ]
    (out / "args.json").write_text(json.dumps(vars(args), indent=2))
    model.fit(
        pipeline(train, training=True),
        epochs=args.epochs,
        steps_per_epoch=steps,
        validation_data=pipeline(validation, training=False) if validation else None,
        validation_steps=args.validation_steps,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles
        verbose=args.verbose,
    )
    plot_pretraining(log_path, out / "curves.png", chance_loss=math.log(1 + args.negatives))
    final = {key: values[-1] for key, values in read_log(log_path).items() if values}
    logger.info("finished: %s", ", ".join(f"{k}={v:.4g}" for k, v in final.items()))
    logger.info("best model: %s, curves: %s", out / "cpc.keras", out / "curves.png")
    return model


def main(argv: list[str] | None = None) -> None:
    run_cli(pretrain, build_parser(), argv)


if __name__ == "__main__":
    main()
