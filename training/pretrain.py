"""CPC pretraining on unlabeled speech: `python -m training.pretrain --data ROOT... --out DIR`.

Writes to `--out`: `checkpoints/` (every epoch, for resuming), `cpc.keras` (the best model by
validation loss), `log.csv`, `tensorboard/` and `curves.png`. Running the same command again
after an interruption resumes from the last finished epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
import keras
import numpy as np
import tensorflow as tf

from keras_cpc.audio import SAMPLE_RATE, load_audio
from keras_cpc.channels import babble_sources, random_shift
from keras_cpc.callbacks import AudioThroughput, run_callbacks
from keras_cpc.datasets import crop_dataset, find_utterances, split_by_speaker
from keras_cpc.distribute import STRATEGIES, is_chief, make_strategy, worker_id
from keras_cpc.features import load_cpc
from keras_cpc.models import CPC
from keras_cpc.plots import plot_pretraining, read_log
from keras_cpc.runs import exclusive_run, resumed_epoch, resumed_seed
from training import fraction, positive, run_cli, share
from training.config import PretrainConfig, SettingError

logger = logging.getLogger("training.pretrain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.pretrain", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", nargs="+",
                        help="LibriSpeech roots (holding LibriSpeech/<subset>/) or folders of audio files")
    parser.add_argument("--out", help="output folder (reused to resume)")
    parser.add_argument("--epochs", type=positive(int))
    parser.add_argument("--steps-per-epoch", type=positive(int),
                        help="training batches per epoch; default: one pass over the training files")
    parser.add_argument("--batch-size", type=positive(int), help="global batch size, over all replicas")
    parser.add_argument("--crop-seconds", type=positive(float))
    parser.add_argument("--negatives", type=positive(int))
    parser.add_argument("--prediction-steps", type=positive(int))
    parser.add_argument("--encoder-channels", type=positive(int))
    parser.add_argument("--context-units", type=positive(int))
    parser.add_argument("--learning-rate", type=positive(float), help="Adam learning rate")
    parser.add_argument("--validation-fraction", type=fraction, help="fraction of speakers held out for validation")
    parser.add_argument("--validation-steps", type=positive(int),
                        help="validation batches per epoch; default: the whole held-out set")
    parser.add_argument("--augment", type=share, nargs="?", const=1.0, metavar="SHARE",
                        help="the context hears this share (alone: all) of the crops through a random channel (room, "
                             "noise, babble of other training files, filter: keras_cpc.channels.random_shift, without "
                             "its gain) and predicts the clean crop's frames; validation crops too, through the same "
                             "channels every epoch")
    parser.add_argument("--init", metavar="CPC.keras",
                        help="start from this pretrained CPC (same sizes) instead of random weights")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--strategy", choices=STRATEGIES)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), help="Keras progress display")
    parser.set_defaults(**PretrainConfig.defaults())
    return parser


def pretrain(config: PretrainConfig, callbacks: Sequence[keras.callbacks.Callback] = ()) -> CPC:
    """Runs (or resumes) the pretraining that `config` describes and returns the trained model.

    `callbacks` run after the run's own ones (after the checkpoint has been restored). One
    process at a time trains into `--out` (each worker of a cluster into its own folder).
    """
    keras.utils.set_random_seed(config.seed)
    # Validation is one pass over a finite dataset; Keras warns each time it ends.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    strategy = make_strategy(config.strategy)
    out = Path(config.out)
    if not is_chief(strategy):
        out = out / "workers" / str(worker_id(strategy))
    with exclusive_run(out):
        return train_cpc(config, strategy, out, callbacks)


def train_cpc(config: PretrainConfig, strategy: tf.distribute.Strategy, out: Path,
              callbacks: Sequence[keras.callbacks.Callback]) -> CPC:
    utterances = find_utterances(config.data)
    train, validation = split_by_speaker(utterances, config.validation_fraction, config.seed)
    logger.info("%d training and %d validation utterances (%d held-out speakers), %d replica(s)",
                len(train), len(validation), len({u.speaker for u in validation}),
                strategy.num_replicas_in_sync)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise SettingError(f"--batch-size {config.batch_size} is not divisible by "
                           f"{strategy.num_replicas_in_sync} replicas")

    with strategy.scope():
        model = CPC(
            encoder_channels=config.encoder_channels,
            context_units=config.context_units,
            prediction_steps=config.prediction_steps,
            negatives=config.negatives,
        )
        model.build((None, None))
        if config.init:
            initialise(model, config.init)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    crop_frames = int(round(config.crop_seconds * SAMPLE_RATE))
    if crop_frames < model.min_samples:
        raise SettingError(f"--crop-seconds {config.crop_seconds} is too short to predict "
                           f"{config.prediction_steps} steps: need {model.min_samples} samples")

    training_seed = resumed_seed(config.seed, resumed_epoch(out))  # a resumed run reads on, not again
    augment = augmentation([load_audio(p) for p in babble_sources([u.path for u in train])], config.augment) \
        if config.augment else None

    def pipeline(files, training):
        # Each host reads its own share of the training files; every host evaluates the whole
        # (small) validation set, so all hosts run the same number of validation batches.
        def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
            shard = (context.input_pipeline_id, context.num_input_pipelines) if training else (0, 1)
            return crop_dataset(
                [u.path for u in files], context.get_per_replica_batch_size(config.batch_size),
                config.crop_seconds, training_seed if training else config.seed, training,
                model.encoder.receptive_field, shard=shard, augment=augment,
            )
        return strategy.distribute_datasets_from_function(dataset_fn)

    steps = config.steps_per_epoch or max(1, len(train) // config.batch_size)
    log_path = out / "log.csv"
    callbacks = [
        AudioThroughput(config.batch_size * config.crop_seconds),
        *run_callbacks(out, "cpc.keras", "val_loss" if validation else "loss", config.settings()),
        keras.callbacks.TensorBoard(out / "tensorboard", profile_batch=0),
        *callbacks,
    ]
    (out / "args.json").write_text(json.dumps(dataclasses.asdict(config), indent=2))
    model.fit(
        pipeline(train, training=True),
        epochs=config.epochs,
        steps_per_epoch=steps,
        validation_data=pipeline(validation, training=False) if validation else None,
        validation_steps=config.validation_steps,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles
        verbose=config.verbose,
    )
    plot_pretraining(log_path, out / "curves.png", chance_loss=math.log(1 + config.negatives))
    final = {key: values[-1] for key, values in read_log(log_path).items() if values}
    logger.info("finished: %s", ", ".join(f"{k}={v:.4g}" for k, v in final.items()))
    logger.info("best model: %s, curves: %s", out / "cpc.keras", out / "curves.png")
    return model


def initialise(model: CPC, path: str) -> None:
    """Gives `model` the weights of the CPC saved at `path` (`keras_cpc.features.load_cpc`), which must have its
    sizes."""
    pretrained = load_cpc(path)
    sizes = ("encoder_channels", "kernel_sizes", "strides", "context_units", "prediction_steps")
    wanted, found = model.get_config(), pretrained.get_config()
    if any(found[k] != wanted[k] for k in sizes):
        raise SettingError(f"--init {path}: not a CPC of the sizes asked for "
                           f"({', '.join(f'{k}={wanted[k]}' for k in sizes)})")
    model.set_weights(pretrained.get_weights())


def augmentation(babble: Sequence[np.ndarray], share: float = 1.0
                 ) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """`--augment`'s channel: `random_shift` with babble of `babble`, at the crop's own level, for `share` of the
    crops (the others stay clean). A share of 1 draws nothing more from the generator than `random_shift`."""
    def channel(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if share < 1 and rng.random() >= share:
            return audio
        return random_shift(audio, rng, babble, gain=False)
    return channel


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda args: pretrain(PretrainConfig.from_args(args)), build_parser(), argv)


if __name__ == "__main__":
    main()
