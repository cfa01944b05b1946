"""Inference speed of ``foldpitch.predict`` against other trackers, and its memory on 1 h.

Measured in one run on this machine's CPU, with the shipped checkpoint
(``src/foldpitch/weights/foldpitch-16k.ckpt``, or ``--checkpoint``):

1. **Real-time factor** (wall time / audio duration, median of ``--repeats`` after a
   warm-up) on 60 s of 16 kHz audio (a generated harmonic clip with noise), batch 1, for
   foldpitch's ``predict`` (its default ``threads``) and, through the accuracy harness's
   wrappers with their defaults, ``librosa.pyin``, torchcrepe full and tiny, and PESTO.
   A method that cannot run is listed with the reason.
2. **Throughput on a batch of files**: 8 clips of 10 s; foldpitch predicts them as one
   batch, the others one after another.
3. **Backends and threads**: real-time factor of ``predict`` with the torch backend and
   with ``backend="onnx"`` (the exported network run by onnxruntime, same decoding), and
   of SwiftF0 (``swift_f0.SwiftF0(threads=n).detect``, an ONNX model run by
   onnxruntime), on 3 s and 60 s of audio with 1 and 2 threads (``predict(...,
   threads=n)``, which the ONNX backend passes to onnxruntime's ``intra_op_num_threads``;
   SwiftF0's ``threads``). Median of ``--repeats`` (10 for 3 s) after a warm-up.
4. **Peak memory** of ``predict`` on a 1-hour 16 kHz file, in a fresh subprocess
   (``ru_maxrss``; the audio itself is 230 MB of float32).

Regenerate ``benchmarks/results/predict_speed.md`` with::

    python benchmarks/predict_speed.py --write
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the accuracy harness's wrappers: benchmarks.accuracy

RESULTS_FILE = Path(__file__).parent / "results" / "predict_speed.md"
SAMPLE_RATE = 16000
COMPETITORS = ("pyin", "torchcrepe-tiny", "torchcrepe-full", "pesto")
THREADS = (1, 2)


def test_audio(seconds: float, seed: int = 0) -> np.ndarray:
    from foldpitch.data import synthesize_excerpt

    out = synthesize_excerpt(
        seed, 0, n_samples=int(seconds * SAMPLE_RATE), sample_rate=SAMPLE_RATE, snr_db=20.0
    )
    return out["audio"]


def median_seconds(function, repeats: int, warm_up: bool = True) -> float:
    if warm_up:
        function()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        function()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def backend_rows(checkpoint: str, repeats: int) -> list[tuple[str, dict, str]]:
    """Real-time factor by method, duration (3 s, 60 s) and thread count (1, 2).

    Returns ``(method, {(seconds, threads): rtf}, note)`` rows; a method that cannot
    run has no numbers and says why."""
    from foldpitch.predict import predict

    clips = {seconds: test_audio(seconds, seed=10 + seconds) for seconds in (3, 60)}

    def foldpitch_runner(backend: str):
        def make(threads: int):
            return lambda audio: predict(
                audio, SAMPLE_RATE, checkpoint, backend=backend, threads=threads
            )

        return make

    def swift_runner():
        import swift_f0

        def make(threads: int):
            detector = swift_f0.SwiftF0(threads=threads)
            return lambda audio: detector.detect(audio, SAMPLE_RATE, 50.0, 1100.0)

        return make

    methods = [
        ("foldpitch, torch", lambda: foldpitch_runner("torch")),
        ("foldpitch, onnx (onnxruntime)", lambda: foldpitch_runner("onnx")),
        ("SwiftF0 (onnxruntime)", swift_runner),
    ]
    default_threads = torch.get_num_threads()
    rows = []
    for name, build in methods:
        rtf = {}
        try:
            make = build()
            for threads in THREADS:
                torch.set_num_threads(threads)
                run = make(threads)
                for seconds, audio in clips.items():
                    n = max(repeats, 10) if seconds < 10 else repeats
                    rtf[seconds, threads] = (
                        median_seconds(lambda run=run, audio=audio: run(audio), n) / seconds
                    )
            rows.append((name, rtf, ""))
        except ImportError as error:
            rows.append((name, {}, f"unavailable: {error}"))
        finally:
            torch.set_num_threads(default_threads)
    return rows


def peak_memory_one_hour(checkpoint: str) -> float:
    """Peak resident memory (MB) of a fresh process that predicts 1 h of audio.

    Read from ``VmHWM`` in ``/proc/self/status``, which starts afresh at ``exec``
    (``ru_maxrss`` does not: it can report the parent's peak).
    """
    code = f"""
import numpy as np
from foldpitch.predict import predict
audio = np.zeros(3600 * {SAMPLE_RATE}, np.float32)
audio += np.sin(np.arange(audio.size, dtype=np.float32) * 0.1)  # no float64 temporaries
result = predict(audio, {SAMPLE_RATE}, {checkpoint!r})
assert result.f0.shape[-1] == 360000
status = open("/proc/self/status").read().split("VmHWM:")[1].split()
print(int(status[0]) / 1024)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0])


def main(argv=None) -> None:
    from benchmarks.accuracy.methods import METHODS, MethodUnavailable
    from foldpitch.predict import DEFAULT_CHECKPOINT, _resolve_threads, predict

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated competitors to skip")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS_FILE.name}")
    args = parser.parse_args(argv)

    memory = peak_memory_one_hour(args.checkpoint)  # first: a fresh, small parent
    minute = test_audio(60.0)
    files = np.stack([test_audio(10.0, seed) for seed in range(1, 9)])
    rows = []

    def foldpitch_rtf():
        return median_seconds(lambda: predict(minute, SAMPLE_RATE, args.checkpoint), args.repeats)

    def foldpitch_batch():
        return median_seconds(lambda: predict(files, SAMPLE_RATE, args.checkpoint), args.repeats)

    rows.append(("foldpitch (shipped checkpoint)", foldpitch_rtf() / 60, foldpitch_batch(), ""))
    backends = backend_rows(args.checkpoint, args.repeats)
    for name in COMPETITORS:
        if name in args.skip.split(","):
            continue
        method = METHODS[name]
        try:
            seconds = median_seconds(
                lambda method=method: method(minute, SAMPLE_RATE, 50.0, 1100.0), 1
            )
            batch = median_seconds(
                lambda method=method: [method(f, SAMPLE_RATE, 50.0, 1100.0) for f in files],
                1,
                warm_up=False,  # warmed up by the 60 s run
            )
            rows.append((name, seconds / 60, batch, ""))
        except MethodUnavailable as error:
            rows.append((name, float("nan"), float("nan"), error.reason))

    ours = rows[0][1]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        "# Inference speed (CPU)",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (load average "
        f"{load} at the end: the machine is shared), {torch.get_num_threads()} torch "
        f"threads (foldpitch: `predict`'s default, {_resolve_threads(None, 60.0)} on 60 s), "
        f"torch {torch.__version__}. 60 s of generated 16 kHz audio, batch 1 "
        f"(median of {args.repeats} after a warm-up for foldpitch, one run after a warm-up "
        "for the others); 8 files of 10 s for the batch column. Every method searched "
        "50-1100 Hz with a 10 ms hop. Command: `python benchmarks/predict_speed.py "
        f"{' '.join(sys.argv[1:])}`.",
        "",
        "| method | real-time factor, 60 s | foldpitch is faster by | 8 x 10 s files | note |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, rtf, batch, note in rows:
        speedup = "" if name.startswith("foldpitch") or rtf != rtf else f"{rtf / ours:.0f}x"
        rtf_text = "unavailable" if rtf != rtf else f"{rtf:.4f}"
        batch_text = "" if batch != batch else f"{batch:.2f} s"
        lines.append(f"| {name} | {rtf_text} | {speedup} | {batch_text} | {note} |")
    columns = [(seconds, threads) for seconds in (3, 60) for threads in THREADS]
    lines += [
        "",
        "## Backends and threads",
        "",
        "Real-time factor (wall time / audio duration; lower is faster), median of "
        f"{max(args.repeats, 10)} runs on 3 s and {args.repeats} on 60 s after a warm-up, "
        "same run as above. foldpitch: the whole `predict` (resampling, network, Viterbi "
        'decoding), torch or `backend="onnx"` with `predict(..., threads=n)`; SwiftF0: '
        "`SwiftF0(threads=n).detect(audio, 16000, 50, 1100)` (16 ms frames).",
        "",
        "| method | "
        + " | ".join(
            f"{seconds} s, {threads} thread{'s' if threads > 1 else ''}"
            for seconds, threads in columns
        )
        + " | note |",
        "| --- |" + " ---: |" * len(columns) + " --- |",
    ]
    for name, rtf, note in backends:
        cells = [f"{rtf[key]:.4f}" if key in rtf else "" for key in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {note} |")
    lines += [
        "",
        f"Peak resident memory of `predict` on a 1-hour 16 kHz file (chunked, fresh "
        f"process): {memory:.0f} MB (the float32 audio alone is 230 MB).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        RESULTS_FILE.write_text(text + "\n")


if __name__ == "__main__":
    main()
