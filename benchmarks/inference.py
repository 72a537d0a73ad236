"""Streaming inference on LiteRT (exported models) against TensorFlow running the Keras models.

    PYTHONPATH=. python benchmarks/inference.py --models runs/export/none runs/export/dynamic \
        runs/export/int8 --recognizer recognizer.keras --cpc cpc.keras [--json results.json]

For every model folder (from `python -m training.export`), thread count and prediction interval,
in one run:
- real-time factor (processing seconds per audio second, lower is faster) of
  `app.engine.analysis.analyze_file` over a `--seconds` WAV file made of the sample clips, with a
  prediction every `--intervals` seconds (the head runs once per interval, the step model once
  per hop);
- latency of one `StreamingRecognizer.push` of exactly one hop (one step and one head run), p50
  and p99 over `--hops` hops after warm-up;
- the size of each `.tflite` file, and the wall time (start-up: imports, model loading, one short
  clip) and peak RSS of `python -m app.analyze` on the first sample clip, in a subprocess.
Baseline: TensorFlow's `tf.function` of the Keras models on the same file (the engine's level front
end and per-speaker feature mapping, the same NumPy code; whole-file contexts, then the head on the
window of every prediction, as the streaming app predicts), in a subprocess
per thread count since TensorFlow fixes its threads when it starts. Its predictions are checked
against the first model folder's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from app.engine.analysis import analyze_file, read_blocks
from app.engine.streaming import StreamingRecognizer, read_config
from keras_cpc.audio import audio_files
from report import machine, save  # benchmarks/report.py

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "assets" / "samples" / "librispeech"
WARMUP_HOPS = 20
HEAD_BATCH = 16


def repo_env() -> dict[str, str]:
    """This environment with the repository on `PYTHONPATH`, for subprocesses."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def make_audio(sources: list[Path], seconds: float, path: Path, sample_rate: int) -> float:
    """Writes `seconds` of the sources, one after another and repeated, as a WAV; returns its length."""
    clips = [np.concatenate(list(read_blocks(source, sample_rate))) for source in sources]
    audio = np.concatenate(clips)
    samples = round(seconds * sample_rate)
    audio = np.tile(audio, int(np.ceil(samples / len(audio))))[:samples]
    soundfile.write(path, audio, sample_rate, subtype="FLOAT")
    return len(audio) / sample_rate


def real_time_factor(model_dir: Path, threads: int, interval: float, path: Path, duration: float,
                     repeats: int) -> dict:
    """Median seconds per audio second of `analyze_file` over `repeats` runs after a warm-up run."""
    recognizer = StreamingRecognizer(model_dir, num_threads=threads, interval=interval)
    analyze_file(recognizer, path)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictions = analyze_file(recognizer, path)
        times.append(time.perf_counter() - start)
    return {"rtf": float(np.median(times)) / duration, "seconds": times,
            "predictions": np.array([p[1:] for p in predictions], np.float32)}


def hop_latency(model_dir: Path, threads: int, audio: np.ndarray, hops: int) -> dict:
    """p50 and p99 milliseconds of a `push` of exactly one hop, which gives exactly one prediction once warm (the
    level normalisation's 20 ms blocks delay the first)."""
    recognizer = StreamingRecognizer(model_dir, num_threads=threads)
    config = recognizer.config
    hop, overlap = config["hop_samples"], config["chunk_samples"] - config["hop_samples"]
    needed = overlap + (hops + WARMUP_HOPS) * hop
    audio = np.tile(audio, int(np.ceil(needed / len(audio))))[:needed]
    recognizer.push(audio[:overlap])
    times = []
    for start in range(overlap, needed, hop):
        begin = time.perf_counter()
        predictions = recognizer.push(audio[start:start + hop])
        times.append(time.perf_counter() - begin)
        if len(times) > WARMUP_HOPS and len(predictions) != 1:
            raise RuntimeError(f"a push of one hop gave {len(predictions)} predictions")
    times = 1000 * np.array(times[WARMUP_HOPS:])
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def app_run(model_dir: Path, clip: Path) -> dict:
    """Wall seconds and peak RSS (MiB) of `python -m app.analyze` on one clip, one thread."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "app.analyze", str(clip), "--model", str(model_dir),
                   "--csv", os.path.join(folder, "out.csv")]
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=repo_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own resource usage
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}")
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024}  # ru_maxrss is in KiB on Linux


def tensorflow_worker(args: argparse.Namespace) -> None:
    """Baseline in this process: prints JSON of the TensorFlow RTF per interval; saves predictions to `--out`."""
    import keras_cpc  # noqa: F401  (selects the TensorFlow backend)
    import tensorflow as tf

    threads, = args.threads
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from keras_cpc.audio import load_audio
    from keras_cpc.export import load_parts
    from keras_cpc.loudness import apply_frontend
    from keras_cpc.speaker_features import FeatureSettings, SpeakerFeatures
    from keras_cpc.speech_frames import speech_frame_settings, speech_mask

    config = read_config(Path(args.models[0]))
    window, hop_frames = config["window_frames"], config["hop_frames"]
    hop, chunk = config["hop_samples"], config["chunk_samples"]
    encoder, autoregressor, recognizer = load_parts(args.recognizer, args.cpc, args.member)

    append = recognizer.appended_mfccs()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def contexts(audio):
        contexts = autoregressor(encoder(audio[None]))
        return (append(contexts, audio[None]) if append else contexts)[0]

    @tf.function(input_signature=[tf.TensorSpec([None, window, config["feature_size"]], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def head(features, lengths):
        return recognizer({"features": features, "lengths": lengths})

    def predict(path: str, interval_hops: int) -> np.ndarray:
        """The engine's work: the level front end, the speech frames and the per-speaker feature mapping (the
        same NumPy code), whole-file contexts, then the head on the window of every prediction (valid frames
        first) once the window holds a speech frame."""
        audio = apply_frontend(load_audio(path, min_samples=config["receptive_field"]), config.get("frontend"))
        features = contexts(audio).numpy()
        heard = len(features)
        speech = speech_frame_settings(config.get("frontend"))
        keep = np.ones(heard, bool) if speech is None else \
            speech_mask(audio, heard, config["receptive_field"], config["frame_hop"], speech)
        features = features[keep]
        if config.get("features"):
            features = SpeakerFeatures(FeatureSettings(**config["features"])).push(features)
        frames = len(features)
        hops = (len(audio) - chunk) // hop + 1 if len(audio) >= chunk else 0
        due = np.array([hop_frames * (i + 1) for i in range(interval_hops - 1, hops, interval_hops)], np.int32)
        due = np.append(due, heard) if not len(due) or due[-1] < heard else due  # the frames `flush` adds
        ends = np.cumsum(keep)[due - 1]  # speech frames in the window by then
        ends = ends[ends > 0]
        indices = np.minimum(np.maximum(ends - window, 0)[:, None] + np.arange(window)[None], frames - 1)
        windows, lengths = features[indices], np.minimum(ends, window).astype(np.int32)
        return np.concatenate([head(windows[i:i + HEAD_BATCH], lengths[i:i + HEAD_BATCH]).numpy()
                               for i in range(0, len(ends), HEAD_BATCH)])

    seconds = {}
    for interval in args.intervals:
        interval_hops = round(interval * config["sample_rate"] / hop)
        predictions = predict(args.tensorflow_worker, interval_hops)  # traces both functions the first time
        seconds[interval] = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            predict(args.tensorflow_worker, interval_hops)
            seconds[interval].append(time.perf_counter() - start)
        if interval == args.intervals[0]:
            np.save(args.out, predictions)
    print(json.dumps({"seconds": seconds, "tensorflow": tf.__version__}))


def tensorflow_baseline(args: argparse.Namespace, path: Path, threads: int, duration: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "predictions.npy")
        command = [sys.executable, __file__, "--tensorflow-worker", str(path), "--threads", str(threads),
                   "--out", out, "--models", str(args.models[0]), "--recognizer", args.recognizer,
                   "--repeats", str(args.repeats), "--intervals", *map(str, args.intervals)] + \
            (["--cpc", args.cpc] if args.cpc else []) + \
            (["--member", str(args.member)] if args.member is not None else [])
        result = subprocess.run(command, cwd=REPO, env=repo_env(), capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"TensorFlow baseline failed:\n{result.stderr[-3000:]}")
        report = json.loads(result.stdout.strip().splitlines()[-1])
        return {"rtf": {float(i): float(np.median(s)) / duration for i, s in report["seconds"].items()},
                "seconds": report["seconds"], "tensorflow": report["tensorflow"], "predictions": np.load(out)}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, metavar="DIR",
                        help="folders from training.export (e.g. none, dynamic and int8)")
    parser.add_argument("--recognizer", required=True, help="the exported recognizer.keras (baseline)")
    parser.add_argument("--cpc", help="its CPC model (.keras), unless it is an EndToEndRecognizer")
    parser.add_argument("--member", type=int, metavar="INDEX",
                        help="the baseline is this member of the --recognizer ensemble alone (as training.export "
                             "--member exported it)")
    parser.add_argument("--audio", nargs="+", default=[str(SAMPLES)], metavar="FILE_OR_DIR",
                        help="speech to build the test file from (default: the bundled clips)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the test file")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to measure")
    parser.add_argument("--intervals", type=float, nargs="+", default=[0.1, 0.5, 1.0],
                        help="seconds between predictions (multiples of the hop; the first one is checked "
                             "against TensorFlow)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per RTF (median reported)")
    parser.add_argument("--hops", type=int, default=300, help="timed hops per latency")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--tensorflow-worker", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tensorflow_worker:
        return tensorflow_worker(args)

    models = [Path(m) for m in args.models]
    configs = {m: json.loads((m / "model.json").read_text()) for m in models}
    sample_rate = configs[models[0]]["sample_rate"]
    sources = audio_files(args.audio)
    results = {"models": {}, "tensorflow": {}}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        duration = make_audio(sources, args.seconds, path, sample_rate)
        audio = soundfile.read(path, dtype="float32")[0]
        for threads in args.threads:
            results["tensorflow"][threads] = tensorflow_baseline(args, path, threads, duration)
        for model in models:
            result = {"quantization": configs[model]["quantization"],
                      "bytes": {f.name: f.stat().st_size for f in sorted(model.glob("*.tflite"))},
                      "app": app_run(model, sources[0]), "threads": {}}
            for threads in args.threads:
                timing = hop_latency(model, threads, audio, args.hops)
                timing["intervals"] = {}
                for interval in args.intervals:
                    rtf = real_time_factor(model, threads, interval, path, duration, args.repeats)
                    rtf["speedup_over_tensorflow"] = results["tensorflow"][threads]["rtf"][interval] / rtf["rtf"]
                    timing["intervals"][interval] = rtf
                result["threads"][threads] = timing
            results["models"][str(model)] = result

    first_model = results["models"][str(models[0])]["threads"][args.threads[0]]
    first = first_model["intervals"][args.intervals[0]]["predictions"]
    baseline = results["tensorflow"][args.threads[0]]["predictions"]
    deviation = float(np.abs(first - baseline).max()) if first.shape == baseline.shape else float("nan")
    clip = soundfile.info(sources[0]).duration
    print(f"{duration:.0f} s of speech ({len(sources)} clips), {os.cpu_count()} CPUs, "
          f"median of {args.repeats} runs; latency over {args.hops} hops\n")
    intervals = " | ".join(f"RTF {i:g} s | x TF" for i in args.intervals)
    print(f"| model | quantization (step / head) | MiB | threads | {intervals} | hop p50 ms "
          "| hop p99 ms | app.analyze s | peak RSS MiB |")
    print("|---|---|---:|---:|" + "---:|---:|" * len(args.intervals) + "---:|---:|---:|---:|")
    for threads in args.threads:
        rtfs = " | ".join(f"{results['tensorflow'][threads]['rtf'][i]:.4f} | 1.00" for i in args.intervals)
        print(f"| TensorFlow tf.function | float (Keras) | | {threads} | {rtfs} | | | | |")
    for name, result in results["models"].items():
        quantization = " / ".join(result["quantization"][k] for k in ("cpc_step", "head"))
        size = sum(result["bytes"].values()) / 2**20
        app = result["app"]
        for threads, timing in result["threads"].items():
            rtfs = " | ".join(f"{t['rtf']:.4f} | {t['speedup_over_tensorflow']:.2f}"
                              for t in timing["intervals"].values())
            print(f"| {name} | {quantization} | {size:.2f} | {threads} | {rtfs} | {timing['p50_ms']:.2f} "
                  f"| {timing['p99_ms']:.2f} | {app['wall_s']:.2f} | {app['peak_rss_mib']:.0f} |")
    print(f"\napp.analyze: one thread on {sources[0].name} ({clip:.1f} s), start-up included. "
          f"Max |TensorFlow - {models[0]}| over all hop predictions: {deviation:.2e}")

    model_timings = (timing for model in results["models"].values() for threads in model["threads"].values()
                     for timing in threads["intervals"].values())
    for timing in [*results["tensorflow"].values(), *model_timings]:
        del timing["predictions"]
    report = {"machine": machine(results["tensorflow"][args.threads[0]]["tensorflow"]),
              "config": {k: v for k, v in vars(args).items() if k not in ("tensorflow_worker", "out")}
              | {"audio_seconds": duration, "clips": len(sources), "app_clip_seconds": clip},
              "results": results, "max_abs_tensorflow_minus_first_model": deviation}
    return save(report, args.json)


if __name__ == "__main__":
    main()
