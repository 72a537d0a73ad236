"""A resumable run's log, checkpoint and best model stay consistent whenever it is interrupted."""

import csv
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import log_column, log_rows
from keras_cpc.callbacks import EpochTime, run_callbacks
from keras_cpc.runs import RunFolderError, exclusive_run, logged_seconds, resumed_epoch, resumed_seed

X = np.linspace(-1, 1, 16, dtype="float32").reshape(8, 2)
Y = X @ np.array([[2.0], [-1.0]], dtype="float32")


def fit(out: Path, epochs: int, learning_rate: float = 0.1, monitor: str = "val_loss", mode: str = "min",
        callbacks: tuple = (), ema_momentum: float | None = None) -> keras.Model:
    """A linear regression (its validation loss falls every epoch) trained or resumed in `out`, with a moving
    average of its weights if `ema_momentum` is given."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate, use_ema=ema_momentum is not None,
                                       ema_momentum=ema_momentum or 0.99), "mse")
    model.fit(X, Y, validation_data=(X, Y), epochs=epochs, batch_size=4, shuffle=False, verbose=0,
              callbacks=[*callbacks, *run_callbacks(out, "best.keras", monitor, {"learning_rate": learning_rate},
                                                    mode)])
    return model


class Score(keras.callbacks.Callback):
    """Logs a given `val_score` for each epoch (as if measured), and keeps each epoch's weights."""

    def __init__(self, scores: dict[int, float]):
        super().__init__()
        self.scores, self.weights = scores, {}

    def on_epoch_end(self, epoch, logs=None):
        logs["val_score"] = self.scores[epoch]
        self.weights[epoch] = self.model.get_weights()


def assert_same_weights(path: Path, model: keras.Model) -> None:
    for saved, trained in zip(keras.saving.load_model(path).get_weights(), model.get_weights()):
        np.testing.assert_array_equal(saved, trained)


def test_epochs_logged_but_not_checkpointed_are_dropped_and_trained_again(tmp_path):
    fit(tmp_path, 2)
    columns = list(log_rows(tmp_path / "log.csv")[0])
    with open(tmp_path / "log.csv", "a", newline="") as handle:  # killed after logging epoch 2, before its checkpoint
        csv.DictWriter(handle, columns).writerow({**dict.fromkeys(columns, "0.0"), "epoch": "2"})
    model = fit(tmp_path, 3)
    rows = log_rows(tmp_path / "log.csv")
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert float(rows[2]["val_loss"]) > 0  # the retrained epoch's row, not the dropped one
    assert_same_weights(tmp_path / "best.keras", model)  # the dropped row's 0.0 set no bar


def test_a_monitor_missing_from_the_logs_is_an_error_not_a_model_saved_every_epoch(tmp_path):
    with pytest.raises(ValueError, match=r"'val_score', which picks the best epoch, is not among .*'val_loss'"):
        fit(tmp_path, 2, monitor="val_score")
    assert not (tmp_path / "best.keras").exists()


def test_one_process_at_a_time_trains_into_a_run_folder(tmp_path):
    with exclusive_run(tmp_path / "run"):
        with pytest.raises(RunFolderError, match=f"{tmp_path / 'run'}: another process is training into this folder"):
            with exclusive_run(tmp_path / "run"):
                pass
    with exclusive_run(tmp_path / "run"):  # released
        pass


def test_checkpoint_metadata_cut_short_resumes_from_the_previous_checkpoint(tmp_path):
    fit(tmp_path, 3)
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [  # nothing partial left beside them
        "latest.weights.h5", "latest.weights.h5.bkp", "settings.json", "training_metadata.json",
        "training_metadata.json.bkp"]
    assert json.loads((checkpoints / "training_metadata.json.bkp").read_text())["epoch"] == 2
    (checkpoints / "training_metadata.json").write_text("")  # as an in-place write interrupted at its start
    assert resumed_epoch(tmp_path) == 2  # the epoch the restore falls back to
    model = fit(tmp_path, 4)  # Keras alone: JSONDecodeError "Expecting value: line 1 column 1 (char 0)"
    assert log_column(tmp_path / "log.csv", "epoch", int) == [0, 1, 2, 3]  # epoch 2 trained again
    assert resumed_epoch(tmp_path) == 4
    assert_same_weights(tmp_path / "best.keras", model)


class FirstEpoch(keras.callbacks.Callback):
    """The index and starting weights of the first epoch a `fit` trains."""

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "epoch"):
            self.epoch, self.weights = epoch, self.model.get_weights()


def test_weights_newer_than_their_metadata_resume_from_the_previous_checkpoint(tmp_path):
    fit(tmp_path, 3)
    checkpoints = tmp_path / "checkpoints"
    epoch_2 = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    epoch_2.load_weights(shutil.copy(checkpoints / "latest.weights.h5.bkp", tmp_path / "epoch_2.weights.h5"))
    # Killed between renaming epoch 3's weights into place and writing its metadata:
    shutil.copy(checkpoints / "training_metadata.json.bkp", checkpoints / "training_metadata.json")
    first = FirstEpoch()
    fit(tmp_path, 4, callbacks=(first,))
    assert first.epoch == 2  # Keras alone: epoch 2 again, from epoch 3's weights
    for restored, saved in zip(first.weights, epoch_2.get_weights()):
        np.testing.assert_array_equal(restored, saved)
    assert log_column(tmp_path / "log.csv", "epoch", int) == [0, 1, 2, 3]


def test_a_resumed_run_starts_at_its_checkpointed_epoch_with_another_data_seed(tmp_path):
    assert resumed_epoch(tmp_path) == 0 and resumed_seed(7, 0) == 7  # a new run keeps its seed
    fit(tmp_path, 2)
    assert resumed_epoch(tmp_path) == 2
    seeds = {resumed_seed(7, epoch) for epoch in range(1, 50)} | {resumed_seed(8, 1), 7}
    assert len(seeds) == 51 and all(0 <= s < 2**31 for s in seeds)  # tf.data takes an int64 seed


def test_the_best_model_of_a_score_to_maximise_is_its_highest_epoch_also_after_a_resume(tmp_path):
    first = Score({0: 0.1, 1: 0.5})
    fit(tmp_path, 2, monitor="val_score", mode="max", callbacks=(first,))
    fit(tmp_path, 4, monitor="val_score", mode="max", callbacks=(Score({2: 0.3, 3: 0.4}),))
    assert log_column(tmp_path / "log.csv", "val_score") == [0.1, 0.5, 0.3, 0.4]
    for saved, kept in zip(keras.saving.load_model(tmp_path / "best.keras").get_weights(), first.weights[1]):
        np.testing.assert_array_equal(saved, kept)  # epoch 1's, not a later (lower) one's nor the lowest


class Weights(keras.callbacks.Callback):
    """Keeps the weights the model starts with and those after every step."""

    def on_train_begin(self, logs=None):
        self.steps = [self.model.get_weights()] if not hasattr(self, "steps") else self.steps

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self.model.get_weights())


def test_with_a_moving_average_validation_scores_it_the_best_model_is_it_and_training_goes_on_without_it(tmp_path):
    weights = Weights()
    fit(tmp_path / "a", 2, ema_momentum=0.5, callbacks=(weights,))
    fit(tmp_path / "a", 3, ema_momentum=0.5, callbacks=(weights,))  # resumed from its checkpoint
    kernel, bias = weights.steps[0]
    expected_steps, averages, losses = [], [], []
    for epoch in range(3):  # SGD at 0.1 on the mean squared error, batches of 4 in order, in NumPy
        for batch in (slice(0, 4), slice(4, 8)):
            error = X[batch] @ kernel + bias - Y[batch]
            kernel, bias = kernel - 0.1 * 2 * X[batch].T @ error / 4, bias - 0.1 * 2 * error.mean(0)
            expected_steps.append([kernel, bias])
            averages.append([kernel, bias] if not averages else
                            [0.5 * a + 0.5 * w for a, w in zip(averages[-1], (kernel, bias))])
        losses.append(float(np.mean((X @ averages[-1][0] + averages[-1][1] - Y) ** 2)))
    for trained, expected in zip(weights.steps[1:], expected_steps, strict=True):  # the weights, not their average
        for got, want in zip(trained, expected):
            np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(log_column(tmp_path / "a" / "log.csv", "val_loss"), losses, rtol=1e-5)
    for saved, average in zip(keras.saving.load_model(tmp_path / "a" / "best.keras").get_weights(), averages[-1]):
        np.testing.assert_allclose(saved, average, rtol=1e-5)  # the last epoch is the best (validation loss falls)


def test_a_row_cut_short_by_an_interruption_is_dropped(tmp_path):
    fit(tmp_path, 12)
    with open(tmp_path / "log.csv", "a", newline="") as handle:  # killed while writing epoch 12's row
        handle.write("1")
    fit(tmp_path, 13)
    assert log_column(tmp_path / "log.csv", "epoch", int) == list(range(13))


def test_a_checkpointed_best_epoch_is_saved_if_its_save_was_interrupted(tmp_path):
    fit(tmp_path, 1)
    shutil.copy(tmp_path / "best.keras", tmp_path / "epoch0.keras")
    model = fit(tmp_path, 2)
    shutil.copy(tmp_path / "epoch0.keras", tmp_path / "best.keras")  # killed before saving epoch 1's model
    fit(tmp_path, 2)  # resumes after epoch 1: nothing left to train
    assert_same_weights(tmp_path / "best.keras", model)
    assert log_column(tmp_path / "log.csv", "epoch", int) == [0, 1]


def test_a_log_without_a_checkpoint_to_resume_is_set_aside(tmp_path):
    old = "epoch,loss,val_loss\n0,0.0,0.0\n"  # e.g. from git, its checkpoints were not
    (tmp_path / "log.csv").write_text(old)
    model = fit(tmp_path, 1)
    assert (tmp_path / "log.stale.csv").read_text() == old
    assert log_column(tmp_path / "log.csv", "epoch", int) == [0]
    assert_same_weights(tmp_path / "best.keras", model)  # saved, whatever the old rows say


def test_a_log_begun_without_epoch_times_keeps_its_columns(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest.weights.h5").touch()  # the log's run can be restored
    log_path = tmp_path / "log.csv"
    log_path.write_text("epoch,loss\n0,0.5\n")
    assert not any(isinstance(c, EpochTime) for c in run_callbacks(tmp_path, "m.keras", "loss", {}))
    assert logged_seconds(log_path, 1) == 0.0
    log_path.write_text("epoch,epoch_seconds,loss\n0,2.5,0.5\n1,3.0,0.4\n1,3.5,0.4\n2,4.0,0.3\n")  # epoch 1 twice
    assert any(isinstance(c, EpochTime) for c in run_callbacks(tmp_path, "m.keras", "loss", {}))
    assert logged_seconds(log_path, 2) == 6.0  # the last row of an epoch counts; epoch 2 was not checkpointed


def test_a_checkpoint_is_not_resumed_with_other_settings(tmp_path):
    fit(tmp_path, 1)
    rows = log_rows(tmp_path / "log.csv")
    with pytest.raises(ValueError, match=f"{tmp_path} holds a run trained with other settings: "
                                         r"learning_rate 0.1 \(now 0.2\)"):
        fit(tmp_path, 2, learning_rate=0.2)
    assert log_rows(tmp_path / "log.csv") == rows  # nothing trained, nothing lost
    fit(tmp_path, 2)  # the same settings resume it
    assert log_column(tmp_path / "log.csv", "epoch", int) == [0, 1]


def test_settings_without_a_checkpoint_to_resume_are_replaced(tmp_path):
    fit(tmp_path, 1)
    shutil.rmtree(tmp_path / "checkpoints")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "settings.json").write_text('{"learning_rate": 0.1}')
    fit(tmp_path, 1, learning_rate=0.2)  # a new run: its settings are recorded
    assert json.loads((tmp_path / "checkpoints" / "settings.json").read_text()) == {"learning_rate": 0.2}
