"""`python -m training.pretrain`: outputs, resume after kill -9, and tf.distribute strategies."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import log_column
from keras_cpc.channels import random_shift
from keras_cpc.runs import common_epoch, exclusive_run
from keras_cpc.distribute import grow_gpu_memory, is_chief, worker_id
from keras_cpc.models import CPC
from keras_cpc.plots import read_log
from keras_cpc.features import file_digest
from training.config import PretrainConfig, SettingError
from training.pretrain import augmentation, build_parser, pretrain

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "assets" / "samples" / "librispeech"
TINY = ["--data", str(SAMPLES), "--batch-size", "4", "--crop-seconds", "0.5", "--encoder-channels", "8",
        "--context-units", "8", "--prediction-steps", "3", "--negatives", "4", "--verbose", "0"]
# Runs the CLI with the CPU split in two logical devices, so MirroredStrategy has 2 replicas. Without
# oneDNN: on an AVX-512 CPU, TF 2.21's oneDNN convolutions in two concurrent CPU replicas fail ("input
# depth must be evenly divisible by filter depth: 1 vs 8" in replica 1's first layer; not on AVX2, nor GPUs).
TWO_CPUS = (
    "import os; os.environ['TF_ENABLE_ONEDNN_OPTS'] = '0';"
    "import sys, tensorflow as tf;"
    "cpu = tf.config.list_physical_devices('CPU')[0];"
    "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2);"
    "from training.pretrain import main; main(sys.argv[1:])"
)


def tiny_cpc(**sizes) -> CPC:
    """A built CPC of TINY's sizes, or of others given."""
    model = CPC(**{"encoder_channels": 8, "context_units": 8, "prediction_steps": 3, "negatives": 4, **sizes})
    model.build((None, None))
    return model


def parse(args) -> PretrainConfig:
    return PretrainConfig.from_args(build_parser().parse_args([str(a) for a in args]))


def run_cli(args, env=None, code=None, **kwargs) -> subprocess.Popen:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "training.pretrain"]
    return subprocess.Popen(command + [str(a) for a in args], cwd=REPO, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


class EpochWeights(keras.callbacks.Callback):
    """Records the weights at the end of each epoch."""

    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.numpy().copy() for w in self.model.weights])


def test_pretrain_writes_model_log_curves_and_checkpoints(tmp_path):
    epochs = EpochWeights()
    model = pretrain(parse(TINY + ["--out", tmp_path, "--epochs", "2", "--steps-per-epoch", "2"]), [epochs])
    log = read_log(tmp_path / "log.csv")
    assert log["epoch"] == [0, 1]
    assert {"loss", "val_loss", "acc_01", "val_acc_03", "audio_s_per_s", "epoch_seconds"} <= set(log)
    assert all(v > 0 for v in log["audio_s_per_s"])
    for name in ("curves.png", "checkpoints/latest.weights.h5", "args.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    best = keras.saving.load_model(tmp_path / "cpc.keras")
    assert best.get_config() == model.get_config()
    best_epoch = int(np.argmin(log["val_loss"]))
    for saved, trained in zip(best.weights, epochs.weights[best_epoch], strict=True):
        np.testing.assert_array_equal(saved.numpy(), trained)  # the best epoch's weights, not a fresh model


class FirstEpoch(keras.callbacks.Callback):
    """Records the weights a run starts from and its first epoch."""

    def on_train_begin(self, logs=None):
        self.weights = [w.numpy().copy() for w in self.model.weights]
        self.iterations = int(self.model.optimizer.iterations)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = self.epoch if self.epoch is not None else epoch


def test_augmented_pretraining_starts_from_its_init_and_records_both(tmp_path):
    init = tiny_cpc()
    init.save(tmp_path / "init.keras")
    first = FirstEpoch()
    args = TINY + ["--out", tmp_path / "run", "--epochs", "1", "--steps-per-epoch", "2", "--augment"]
    pretrain(parse(args + ["--init", tmp_path / "init.keras"]), [first])
    for started, initial in zip(first.weights, init.weights, strict=True):
        np.testing.assert_array_equal(started, initial.numpy())
    settings = json.loads((tmp_path / "run" / "checkpoints" / "settings.json").read_text())
    assert settings["augment"] is True and settings["init_sha256"] == file_digest(tmp_path / "init.keras")
    assert not {"augment", "init", "init_sha256"} & set(parse(TINY).settings())  # older runs resume
    tiny_cpc(encoder_channels=16).save(tmp_path / "other.keras")
    with pytest.raises(SettingError, match="not a CPC of the sizes"):
        pretrain(parse(args + ["--out", tmp_path / "other", "--init", tmp_path / "other.keras"]))


def test_augmented_pretraining_validates_on_augmented_crops(tmp_path):
    init = tiny_cpc()
    rng = np.random.default_rng(0)  # large weights: a fresh tiny model's logits are all near 0 on quiet speech
    init.set_weights([rng.normal(0, 2, w.shape) for w in init.get_weights()])
    init.save(tmp_path / "init.keras")
    args = TINY + ["--epochs", "1", "--steps-per-epoch", "1", "--learning-rate", "1e-12",
                   "--init", tmp_path / "init.keras"]
    for name, extra in (("plain", []), ("augmented", ["--augment"]), ("again", ["--augment"])):
        pretrain(parse(args + ["--out", tmp_path / name, *extra]))
    loss = {name: read_log(tmp_path / name / "log.csv")["val_loss"][0] for name in ("plain", "augmented", "again")}
    assert abs(loss["augmented"] - loss["plain"]) > 0.01  # the same weights hear other audio
    assert loss["augmented"] == pytest.approx(loss["again"], rel=1e-6)  # through the same seeded channels


def test_augment_share_leaves_the_other_crops_clean():
    assert parse(TINY + ["--augment"]).augment == 1.0
    assert parse(TINY + ["--augment", "0.5"]).settings()["augment"] == 0.5
    with pytest.raises(SystemExit):
        parse(TINY + ["--augment", "0"])
    audio = np.random.default_rng(0).normal(0, 0.1, 4000).astype(np.float32)
    babble = [np.random.default_rng(1).normal(0, 0.1, 8000).astype(np.float32)]
    everything, half = augmentation(babble), augmentation(babble, 0.5)
    np.testing.assert_array_equal(everything(audio, np.random.default_rng(3)),
                                  random_shift(audio, np.random.default_rng(3), babble, gain=False))
    clean = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        expected = audio if rng.random() >= 0.5 else random_shift(audio, rng, babble, gain=False)
        heard = half(audio, np.random.default_rng(seed))
        np.testing.assert_array_equal(heard, expected)
        clean += np.array_equal(heard, audio)
    assert 10 < clean < 30


@pytest.mark.slow
def test_killed_run_resumes_from_last_finished_epoch(tmp_path):
    args = TINY + ["--out", tmp_path, "--steps-per-epoch", "6"]
    process = run_cli(args + ["--epochs", "1000"])
    log_path = tmp_path / "log.csv"
    deadline = time.time() + 300
    while time.time() < deadline and not (log_path.exists() and len(read_log(log_path).get("epoch", [])) >= 2):
        time.sleep(0.2)
    time.sleep(0.3)  # now somewhere inside an epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    metadata = json.loads((tmp_path / "checkpoints" / "training_metadata.json").read_text())
    finished = metadata["epoch"]
    assert finished >= 2

    reference = tiny_cpc()
    reference.compile(optimizer=keras.optimizers.Adam())
    reference.optimizer.build(reference.trainable_variables)
    # The weights of the metadata's step: a kill between the two renames leaves the next epoch's weights as the
    # latest, and the restore falls back to the previous pair (AtomicBackupAndRestore).
    for weights in ("latest.weights.h5", "latest.weights.h5.bkp"):
        candidate = tmp_path / "reference.weights.h5"  # Keras loads only files named *.weights.h5
        shutil.copyfile(tmp_path / "checkpoints" / weights, candidate)
        reference.load_weights(candidate)
        if int(reference.optimizer.iterations) == metadata["iterations"]:
            break
    assert int(reference.optimizer.iterations) == metadata["iterations"]
    first = FirstEpoch()
    pretrain(parse(args + ["--epochs", str(finished + 2)]), callbacks=[first])

    assert first.epoch == finished  # 0-based: the first epoch not finished before the kill
    for restored, saved in zip(first.weights, [w.numpy() for w in reference.weights]):
        np.testing.assert_array_equal(restored, saved)
    assert first.iterations == 6 * finished  # the optimizer's state too: its step also seeds the negatives
    assert log_column(log_path, "epoch", int) == list(range(finished + 2))  # one row per epoch


@pytest.mark.slow
def test_two_mirrored_replicas_match_one_replica(tmp_path):
    # 5 validation files in per-replica batches of 2: the second replica gets nothing of the last.
    args = TINY + ["--epochs", "1", "--steps-per-epoch", "1", "--validation-fraction", "0.35"]
    logs = {}
    for strategy in ("default", "mirrored"):
        output = finish(run_cli(args + ["--out", tmp_path / strategy, "--strategy", strategy], code=TWO_CPUS))
        assert ("2 replica(s)" if strategy == "mirrored" else "1 replica(s)") in output
        assert "5 validation utterances" in output
        logs[strategy] = read_log(tmp_path / strategy / "log.csv")
    for key in ("loss", "val_loss"):
        assert logs["mirrored"][key][0] == pytest.approx(logs["default"][key][0], rel=1e-5)
    assert (tmp_path / "mirrored" / "cpc.keras").exists()  # a finite val_loss was monitored


@pytest.mark.parametrize("jobs, task, chief", [
    ({"worker": 2}, ("worker", 0), True),
    ({"worker": 2}, ("worker", 1), False),
    ({"chief": 1, "worker": 2}, ("chief", 0), True),
    ({"chief": 1, "worker": 2}, ("worker", 0), False),  # only one process may write the outputs
])
def test_one_process_of_a_cluster_is_chief(jobs, task, chief):
    spec = tf.train.ClusterSpec({job: [f"host{job}{i}:1" for i in range(n)] for job, n in jobs.items()})
    resolver = SimpleNamespace(task_type=task[0], task_id=task[1], cluster_spec=lambda: spec)
    assert is_chief(SimpleNamespace(cluster_resolver=resolver)) == chief
    assert worker_id(SimpleNamespace(cluster_resolver=resolver)) == task[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_finish_a_tiny_run_and_resume_from_a_common_epoch(tmp_path):
    def run(epochs: int, timeout: float) -> list[str]:
        workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
        processes = [
            run_cli(TINY + ["--out", tmp_path, "--epochs", epochs, "--steps-per-epoch", "2", "--strategy",
                            "multiworker"], env={"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                                          "task": {"type": "worker", "index": i}})})
            for i in range(2)
        ]
        return [finish(p, timeout) for p in processes]

    outputs = run(2, 300)
    assert all("2 replica(s)" in out for out in outputs)
    assert log_column(tmp_path / "log.csv", "epoch", int) == [0, 1]
    assert (tmp_path / "cpc.keras").exists()
    assert (tmp_path / "workers" / "1" / "log.csv").exists()  # the non-chief writes apart
    behind = tmp_path / "workers" / "1" / "checkpoints"  # as if killed before saving its epoch 1
    for name in ("latest.weights.h5", "training_metadata.json"):
        shutil.copy(behind / f"{name}.bkp", behind / name)
    chief, _ = run(3, 120)  # without a common epoch, the workers' collectives would not match
    assert "back to epoch 1" in chief
    assert log_column(tmp_path / "log.csv", "epoch", int) == [0, 1, 2]
    for name in ("latest.weights.h5", "training_metadata.json"):  # as if killed between their first saves
        (behind / name).unlink()
        (behind / f"{name}.bkp").unlink()
    (tmp_path / "checkpoints" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    (tmp_path / "checkpoints" / "training_metadata.json.bkp").unlink()
    chief, _ = run(1, 120)
    assert "back to epoch 0" in chief and log_column(tmp_path / "log.csv", "epoch", int) == [0]


def test_workers_resume_from_the_latest_epoch_they_all_hold():
    assert common_epoch([3, 3], [2, 2]) == 3
    assert common_epoch([3, 2], [2, 1]) == 2  # killed between the two workers' saves of epoch 3
    assert common_epoch([1, 0], [None, None]) == 0  # killed between their saves of epoch 1: start again
    for latest, previous in (([4, 2], [3, 1]), ([2, 0], [1, None])):
        with pytest.raises(ValueError, match=f"checkpoints are at epochs {latest}".replace("[", r"\[")):
            common_epoch(latest, previous)


def test_a_missing_data_folder_ends_with_one_line_naming_it(tmp_path):
    from training.pretrain import main

    with pytest.raises(SystemExit, match=f"error: {tmp_path / 'nowhere'}: audio folder not found"):
        main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])


def test_an_out_folder_another_process_trains_into_is_refused(tmp_path):
    from training.pretrain import main

    with exclusive_run(tmp_path / "out"):
        with pytest.raises(SystemExit, match=f"{tmp_path / 'out'}: another process is training into this folder"):
            main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])


def test_an_out_folder_that_cannot_be_written_ends_with_one_line_naming_it(tmp_path):
    from training.pretrain import main

    (tmp_path / "file").write_text("a regular file: nothing can be created under it, even by root")
    with pytest.raises(SystemExit, match=f"error: {tmp_path / 'file' / 'out'}: not a writable folder"):
        main(["--data", str(SAMPLES), "--out", str(tmp_path / "file" / "out")])


def test_training_files_none_of_which_decode_end_with_one_line_saying_so(tmp_path):
    from training.pretrain import main

    for name in ("a.wav", "b.flac"):
        (tmp_path / "data" / "spk").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "spk" / name).write_bytes(b"not audio")
    with pytest.raises(SystemExit, match=r"error: none of the 2 audio files could be used$"):
        main([*TINY, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--validation-fraction", "0"])


@pytest.mark.parametrize(("option", "value", "problem"), [
    ("--steps-per-epoch", "0", "0 is not above 0"),  # was silently one pass
    ("--batch-size", "-2", "-2 is not above 0"),
    ("--crop-seconds", "0", "0 is not above 0"),
    ("--negatives", "many", "invalid positive int value: 'many'"),
    ("--validation-fraction", "1", "1 is not in [0, 1)"),
])
def test_options_out_of_range_are_refused_by_name(capsys, option, value, problem):
    with pytest.raises(SystemExit):
        parse([*TINY, option, value])
    assert f"argument {option}: {problem}" in capsys.readouterr().err


def test_gpu_memory_grows_as_needed_where_it_can_be_set(monkeypatch):
    calls = []

    def set_memory_growth(gpu, enable):
        if gpu == "GPU:1":
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        calls.append((gpu, enable))

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind: ["GPU:0", "GPU:1", "GPU:2"])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", set_memory_growth)
    grow_gpu_memory()
    assert calls == [("GPU:0", True), ("GPU:2", True)]
