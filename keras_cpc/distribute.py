"""Choosing a `tf.distribute` strategy: one device, all local GPUs, or several hosts."""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The strategy called `name`.

    `auto` picks `multiworker` when `TF_CONFIG` names a cluster, `mirrored` when a GPU is
    visible and the default (single-device) strategy otherwise. `mirrored` replicates over
    every visible GPU (or the CPU devices when there is none); `multiworker` reads the
    cluster from `TF_CONFIG`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")
    if name == "auto":
        if "cluster" in json.loads(os.environ.get("TF_CONFIG", "{}")):
            name = "multiworker"
        elif tf.config.list_logical_devices("GPU"):
            name = "mirrored"
        else:
            name = "default"
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def grow_gpu_memory() -> None:
    """Lets TensorFlow take GPU memory as it needs it rather than all of it at start, so that
    several runs can share a GPU. A GPU this process already uses is left as it is."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialised, or split into virtual devices
            pass


def worker_id(strategy: tf.distribute.Strategy) -> int | None:
    """This worker's index among several hosts, `None` for a single-host strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return None
    return resolver.task_id


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's outputs: a single host, the `chief` task, or
    worker 0 of a cluster that has no `chief` job."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    first_worker = resolver.task_type == "worker" and resolver.task_id == 0
    return first_worker and "chief" not in resolver.cluster_spec().jobs
