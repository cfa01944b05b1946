"""Live audio: latency, compute per push and accuracy of ``foldpitch.stream``, and
SwiftF0's stream in the same run.

For each setting (network look-ahead, Viterbi lag):

1. **Algorithmic latency**: from the moment a frame's centre sample arrives to the
   moment the frame is final, ``PitchStream.latency`` (half the 1024-sample STFT
   window, 32 ms, plus the look-ahead plus the lag; ``tests/test_stream.py`` checks that
   frames come out exactly then). SwiftF0's stream returns a 16 ms frame once 10 later
   frames exist: its frame at ``k * 16`` ms needs audio up to ``(k + 11) * 16`` ms, 176 ms.
2. **Compute per push** on one thread (``torch.set_num_threads(1)``, the onnxruntime
   session of SwiftF0 with one thread too): the median wall time of a ``push`` of 10,
   20 and 100 ms chunks over the second second of a speech clip (after a warm-up second).
3. **Accuracy** on the accuracy benchmark's sets (:mod:`benchmarks.accuracy`): the
   tones (every 3rd of 4 kinds x 3 f0s x 5 spectra, clean and 10 dB: 40 clips, 60 s) and the speech
   (WORLD resyntheses, clean and 10 dB), each clip pushed whole then flushed (a stream's
   frames do not depend on the chunking: ``tests/test_stream.py``), scored with the
   harness's metrics (mir_eval, 50 cents) against the clip's f0. Each clip is a new
   stream, so the silence gate's running reference starts afresh on every clip.

Regenerate ``benchmarks/results/stream.md`` (about 20 minutes on 2 busy cores) with::

    PYTHONPATH=src python benchmarks/stream.py --write
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.accuracy

RESULTS_FILE = Path(__file__).parent / "results" / "stream.md"
RATE = 16000
# (look-ahead ms or None for the whole receptive field, lag ms or None for the end)
SETTINGS = [(None, None), (100, 50), (50, 50), (10, 0)]
TONE_STRIDE = 3  # every 3rd tone clip (clean and 10 dB alternate): a shorter run
CHUNKS_MS = (10, 20, 100)
METRICS = ("raw_pitch_accuracy", "overall_accuracy", "voicing_recall", "voicing_false_alarm")
SHORT = {
    "raw_pitch_accuracy": "RPA",
    "overall_accuracy": "OA",
    "voicing_recall": "VR",
    "voicing_false_alarm": "VFA",
}


def label(setting) -> str:
    lookahead, lag = setting
    ahead = "full" if lookahead is None else f"{lookahead:g}"
    return f"foldpitch ahead {ahead} / lag {'end' if lag is None else f'{lag:g}'}"


class FoldpitchStream:
    def __init__(self, setting):
        from foldpitch.stream import stream

        self.setting = setting
        self.make = lambda fmin=None, fmax=None: stream(
            sample_rate=RATE, lookahead_ms=setting[0], lag_ms=setting[1], fmin=fmin, fmax=fmax
        )
        self.latency_ms = 1000 * self.make().latency

    def track(self, audio, fmin, fmax):
        live = self.make(fmin, fmax)
        results = [live.push(audio), live.flush()]
        times = np.concatenate([r.times.numpy() for r in results])
        f0 = np.concatenate([r.f0.numpy() for r in results]).astype(np.float64)
        voiced = np.concatenate([r.voiced.numpy() for r in results])
        return times, np.where(voiced, f0, 0.0)

    def pusher(self):
        live = self.make()
        return lambda chunk: live.push(chunk)


class SwiftStream:
    latency_ms = 176.0
    setting = None

    def __init__(self):
        from swift_f0 import SwiftF0

        self.detector = SwiftF0(threads=1)

    def track(self, audio, fmin, fmax):
        live = self.detector.stream(fmin=fmin, fmax=fmax)
        results = [live.push(audio, RATE), live.flush()]
        times = np.concatenate([r.timestamps for r in results])
        f0 = np.concatenate([r.pitch_hz for r in results]).astype(np.float64)
        voiced = np.concatenate([r.confidence for r in results]) >= 0.5
        return times, np.where(voiced, f0, 0.0)

    def pusher(self):
        live = self.detector.stream()
        return lambda chunk: live.push(chunk, RATE)


def push_milliseconds(method, audio, chunk_ms) -> float:
    """Median wall time of one push of ``chunk_ms`` of audio, after one warm-up second."""
    push = method.pusher()
    size = RATE * chunk_ms // 1000
    times = []
    for index, start in enumerate(range(0, len(audio) - size + 1, size)):
        t0 = time.perf_counter()
        push(audio[start : start + size])
        if start >= RATE:
            times.append(time.perf_counter() - t0)
        del index
    return 1000 * statistics.median(times)


def accuracy(method, clips, fmin=50.0, fmax=1100.0) -> dict:
    """Mean of each metric over the clips of each (set, SNR)."""
    from benchmarks.accuracy.metrics import evaluate

    scores: dict = {}
    for clip in clips:
        times, f0 = method.track(clip.audio, fmin, fmax)
        result = evaluate(clip.times, clip.f0_hz, times, f0)
        key = (clip.set, "clean" if clip.snr_db is None else f"{clip.snr_db:g} dB")
        scores.setdefault(key, []).append([result[m] for m in METRICS])
    return {key: np.nanmean(np.array(v), axis=0) for key, v in scores.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS_FILE}")
    parser.add_argument("--quick", action="store_true", help="a few clips, for a smoke run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from benchmarks.accuracy.data import build_clips
    from benchmarks.accuracy.speech import build_speech_clips, missing_parts

    started = time.time()
    clips = build_clips(n_f0=3, snrs=(None, 10.0))[::TONE_STRIDE]
    missing = missing_parts()
    speech = [] if missing else build_speech_clips()
    if args.quick:
        clips, speech = clips[::16], speech[::8]
    methods = [FoldpitchStream(setting) for setting in SETTINGS] + [SwiftStream()]
    speech_audio = (speech[0].audio if speech else clips[0].audio)[: 2 * RATE]
    speech_audio = np.resize(speech_audio, 2 * RATE).astype(np.float32)
    rows = []
    for method in methods:
        name = "SwiftF0 stream" if method.setting is None else label(method.setting)
        print(name, file=sys.stderr)
        costs = [push_milliseconds(method, speech_audio, ms) for ms in CHUNKS_MS]
        rows.append((name, method.latency_ms, costs, accuracy(method, clips + speech)))
    keys = sorted({key for row in rows for key in row[3]})
    lines = [
        "# Live audio: foldpitch.stream against SwiftF0's stream",
        "",
        f"`PYTHONPATH=src python benchmarks/stream.py --write`; {platform.processor() or ''} "
        f"{platform.machine()}, torch {torch.__version__}, 1 thread, "
        f"{time.strftime('%Y-%m-%d')}, {(time.time() - started) / 60:.1f} min, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end (shared machine: "
        "timings are inflated by other work, compare them within this table).",
        "",
        f"Accuracy: {len(clips)} tone clips"
        + (f" and {len(speech)} speech clips" if speech else "")
        + " of the accuracy benchmark, fmin/fmax 50/1100 Hz, each pushed whole then "
        "flushed; mean over clips. Latency: a frame's centre sample in, the frame final "
        "out (algorithmic, compute not included). Compute: median wall time of one push.",
    ]
    if missing:
        lines.append(f"Speech set skipped: {missing}.")
    header = ["method", "latency ms"] + [f"push {ms} ms" for ms in CHUNKS_MS]
    for key in keys:
        header += [f"{key[0]} {key[1]} {SHORT[m]}" for m in METRICS[:2]]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, latency, costs, scores in rows:
        cells = [name, f"{latency:.0f}"] + [f"{c:.2f} ms" for c in costs]
        for key in keys:
            cells += [f"{scores[key][i]:.3f}" if key in scores else "-" for i in range(2)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Voicing (VR recall, VFA false alarms):", ""]
    header = ["method"] + [f"{k[0]} {k[1]} {SHORT[m]}" for k in keys for m in METRICS[2:]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, _, _, scores in rows:
        cells = [name] + [f"{scores[k][i]:.3f}" for k in keys for i in (2, 3)]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS_FILE.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
