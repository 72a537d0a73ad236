"""Responsiveness of the desktop app (`python -m app`), offscreen, with speech played as the live input.

    PYTHONPATH=. python benchmarks/desktop_app.py --model runs/export/int8 [--seconds 30] [--json benchmarks/app.json]

- time to a visible window: from launching `python -m app`'s window in a fresh process to its
  first paint (imports, model loading and the device list included), median of `--launches`;
- latency from a chunk's arrival (its callback) to the first paint of the plots showing its
  point, p50 / p95 / max over every hop of `--seconds` of live speech (the bundled clips with
  pauses, played in real time through `app.file_input`, 50 ms chunks as from a device);
- CPU while live: process CPU seconds per wall second over that run (100% = one core), the
  inference thread, the player thread and the UI together;
- resident memory: at the end of the live run, and the process's peak.
The live run is measured twice in the same process: first the app as it ships (`app.window.LIVE_INTERVAL`;
its memory is the app's), then the baseline, the window predicting every `--baseline-interval` (0.1 s: every
hop, as the app did until 2026-12-04; its memory includes what the first run left). With `--profile`, the UI
thread of the app's run is profiled.
Targets (issue 26): latency p95 <= 250 ms, CPU <= 12%, visible <= 2 s, RSS <= 250 MB.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QObject  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.file_input import FileBackend, FileSource  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.window import MainWindow  # noqa: E402
from keras_cpc.audio import audio_files  # noqa: E402
from tools.screenshots import speech_with_pauses, wait_until  # noqa: E402
from report import machine, save  # noqa: E402  (benchmarks/report.py)

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "assets" / "samples" / "librispeech"
RATE = 16000
TARGETS = {"latency_ms": 250, "cpu_percent": 12, "visible_s": 2.0, "rss_mib": 250}


class PaintTimes(QObject):
    """Records when a widget is painted."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.times.append(time.perf_counter())
        return False


def rss_mib() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def startup_worker(model: str) -> None:
    """In a fresh process: the window as `python -m app` builds it; prints the wall time of its first paint."""
    application = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(Settings.in_file(Path(folder) / "settings.ini"),
                            FileBackend({"speech": FileSource(np.zeros(RATE, np.float32), RATE)}), model)
        paints = PaintTimes()
        window.time_plots.viewport().installEventFilter(paints)
        window.show()
        wait_until(lambda: bool(paints.times), timeout=30)
        print(json.dumps({"painted": time.time() - (time.perf_counter() - paints.times[0])}))
        window.close()
    del application


def time_to_window(model: str, launches: int) -> list[float]:
    """Seconds from launching a process to its window's first paint, per launch."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    times = []
    for _ in range(launches):
        start = time.time()
        result = subprocess.run([sys.executable, __file__, "--model", model, "--startup-worker"], cwd=REPO,
                                env=env, capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise RuntimeError(f"start-up worker failed:\n{result.stderr[-3000:]}")
        times.append(json.loads(result.stdout.strip().splitlines()[-1])["painted"] - start)
    return times


def live_run(model: str, seconds: float, interval: float | None = None, profile: str | None = None) -> dict:
    """Latency, CPU (all threads, and the UI thread's share) and memory over `seconds` of speech played in real
    time as the live input, predicting every `interval` seconds (`None`: as the app does); with `profile`, the
    UI thread's cProfile statistics are written there."""
    audio = speech_with_pauses(audio_files([str(SAMPLES)]), pause=1.5)
    audio = np.tile(audio, int(np.ceil(seconds * RATE / len(audio))))[:round(seconds * RATE)]
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(Settings.in_file(Path(folder) / "settings.ini"),
                            FileBackend({"speech": FileSource(audio, RATE)}), model)
        if interval is not None:
            window.recognizer.interval = interval
        window.show()
        paints = PaintTimes()
        window.time_plots.viewport().installEventFilter(paints)
        QApplication.processEvents()
        profiler = cProfile.Profile() if profile else None
        cpu, ui_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        window.start_live()
        wait_until(lambda: window.session is None, timeout=seconds + 30)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        cpu, ui_cpu, wall = time.process_time() - cpu, time.thread_time() - ui_cpu, time.perf_counter() - wall
        paint_times = np.array(paints.times)
        latencies = []
        for arrival, drawn in window.drawn:
            later = paint_times[paint_times >= drawn]
            if len(later):
                latencies.append(1000 * (later[0] - arrival))
        points, resident = len(window.trajectory), rss_mib()
        window.close()
    latencies = np.array(latencies)
    return {"interval": window.recognizer.interval, "audio_seconds": len(audio) / RATE, "wall_seconds": wall,
            "points": points,
            "updates": len(latencies), "latency_ms": {"p50": float(np.percentile(latencies, 50)),
                                                       "p95": float(np.percentile(latencies, 95)),
                                                       "max": float(latencies.max())},
            "cpu_percent": 100 * cpu / wall, "ui_cpu_percent": 100 * ui_cpu / wall, "rss_mib": resident,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder from training.export")
    parser.add_argument("--seconds", type=float, default=30.0, help="live speech to play")
    parser.add_argument("--launches", type=int, default=3, help="fresh processes timed to a visible window")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--baseline-interval", type=float, default=0.1,
                        help="seconds between predictions of the baseline live run")
    parser.add_argument("--profile", help="write the UI thread's cProfile statistics of the shipped live run "
                        "here (and print its 20 costliest functions)")
    parser.add_argument("--startup-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.startup_worker:
        return startup_worker(args.model)

    visible = time_to_window(args.model, args.launches)
    application = QApplication(sys.argv[:1])
    runs = {"app": live_run(args.model, args.seconds, profile=args.profile)}
    runs["baseline"] = live_run(args.model, args.seconds, args.baseline_interval)
    del application
    if args.profile:
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(20)
    config = json.loads((Path(args.model) / "model.json").read_text())
    measures = [
        ("prediction interval", lambda live: f"{live['interval']:.1f} s", ""),
        ("latency, chunk arrival to plot paint (p50 / p95 / max)",
         lambda live: " / ".join(f"{live['latency_ms'][key]:.0f}" for key in ("p50", "p95", "max")) + " ms",
         f"p95 <= {TARGETS['latency_ms']} ms"),
        ("CPU while live (one core = 100%): all threads (UI thread)",
         lambda live: f"{live['cpu_percent']:.1f}% ({live['ui_cpu_percent']:.1f}%)", f"<= {TARGETS['cpu_percent']}%"),
        ("RSS at the end of the live run / peak so far",
         lambda live: f"{live['rss_mib']:.0f} / {live['peak_rss_mib']:.0f} MiB", f"<= {TARGETS['rss_mib']} MB")]
    print(f"{runs['app']['audio_seconds']:.0f} s of live speech; model {args.model} "
          f"({' / '.join(config['quantization'].values())}); {os.cpu_count()} CPUs\n")
    print("| measure | baseline | app | target |\n|---|---:|---:|---:|")
    for name, show, target in measures:
        print(f"| {name} | {show(runs['baseline'])} | {show(runs['app'])} | {target} |")
    print(f"| time to a visible window (median of launches) | | {np.median(visible):.2f} s | "
          f"<= {TARGETS['visible_s']} s |")
    print(f"\nCPU ratio baseline / app: {runs['baseline']['cpu_percent'] / runs['app']['cpu_percent']:.2f}x")
    report = {"machine": machine("not imported"), "config": vars(args) | {"quantization": config["quantization"]},
              "targets": TARGETS, "results": {"visible_s": visible, "live": runs["app"],
                                              "baseline_live": runs["baseline"]}}
    return save(report, args.json)


if __name__ == "__main__":
    main()
