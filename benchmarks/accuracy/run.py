"""Run every pitch tracker on the synthetic clips and tabulate the accuracy.

Usage (from the repository root)::

    PYTHONPATH=src python -m benchmarks.accuracy.run --quick
    PYTHONPATH=src python -m benchmarks.accuracy.run --methods pyin,praat --out results.md

Every method of :data:`benchmarks.accuracy.methods.METHODS` (or those named in
``--methods``) runs on every clip with the same f0 search range (``--fmin``/``--fmax``,
default 50-1100 Hz around the 60-1000 Hz of the data) and a 10 ms hop. Each method first
runs once on the first clip, untimed (warm-up: imports, model loading, JIT), then every
call is timed with ``time.perf_counter``; the real-time factor is the summed wall time
over the summed audio duration, with torch (and BLAS/OpenMP) limited to ``--threads``
threads (default 2).

The output has one Markdown table per clip kind and SNR (plus one over all clips per
SNR), rows sorted by raw pitch accuracy; each cell is the mean over the clips of that
group (metrics that are undefined on a clip, see :mod:`benchmarks.accuracy.metrics`, are
left out of its mean). Methods that could not be imported are listed with the reason,
and so are methods that raised on some clip (those clips count as all unvoiced).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

__all__ = ["main"]


@dataclass
class MethodRun:
    name: str
    unavailable: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (clip name, error)
    rows: list[tuple[object, dict[str, float], float]] = field(default_factory=list)


def _limit_threads(threads: int) -> None:
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(threads)


def _parse_snrs(text: str) -> list[float | None]:
    out: list[float | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        out.append(None if part in ("clean", "none", "inf") else float(part))
    return out


def run_method(name, method, clips, fmin, fmax, hop_seconds, seed=0) -> MethodRun:
    """Warm up once, then run and evaluate ``method`` on every clip.

    The global numpy and torch generators are seeded first, so that methods that draw
    random numbers (torchcrepe dithers its output) give the same result on every run.
    """
    import torch

    from .methods import MethodUnavailable
    from .metrics import evaluate

    np.random.seed(seed)
    torch.manual_seed(seed)
    run = MethodRun(name)
    first = clips[0]
    try:
        method(first.audio, first.sample_rate, fmin, fmax, hop_seconds)
    except MethodUnavailable as error:
        run.unavailable = error.reason
        return run
    except Exception as error:  # noqa: BLE001 - reported, not hidden
        run.unavailable = f"warm-up failed: {type(error).__name__}: {error}"
        return run
    for clip in clips:
        start = time.perf_counter()
        track = None
        try:
            track = method(clip.audio, clip.sample_rate, fmin, fmax, hop_seconds)
            seconds = time.perf_counter() - start
            estimate = (track.times, track.f0_hz)
        except Exception as error:  # noqa: BLE001
            seconds = time.perf_counter() - start
            run.errors.append((clip.name, f"{type(error).__name__}: {error}"))
            estimate = (clip.times[:1], np.zeros(1))
        scores = evaluate(clip.times, clip.f0_hz, *estimate)
        guess = None if track is None else track.guess_hz
        scores["pitch_accuracy_all"] = (
            evaluate(clip.times, clip.f0_hz, track.times, guess)["raw_pitch_accuracy"]
            if guess is not None
            else math.nan
        )
        run.rows.append((clip, scores, seconds))
    return run


def _mean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _format(key: str, value: float) -> str:
    if math.isnan(value):
        return "–"
    if key.endswith("cents"):
        return f"{value:.1f}"
    return f"{value:.3f}"


def _snr_label(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g} dB"


def _table(runs: list[MethodRun], keep) -> list[str]:
    """Markdown table over the clips for which ``keep(clip)`` is true."""
    from .metrics import METRICS

    header = ["Method", *(label for label, _ in METRICS.values()), "RTF", "clips"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = []
    for run in runs:
        selected = [(scores, seconds, clip) for clip, scores, seconds in run.rows if keep(clip)]
        if not selected:
            continue
        means = {key: _mean(scores[key] for scores, _, _ in selected) for key in METRICS}
        rtf = sum(s for _, s, _ in selected) / sum(c.duration for _, _, c in selected)
        names = {clip.name for *_, clip in selected}
        failed = sum(1 for clip_name, _ in run.errors if clip_name in names)
        cells = [run.name, *(_format(k, v) for k, v in means.items()), f"{rtf:.3f}"]
        cells.append(f"{len(selected)}" + (f" ({failed} failed)" if failed else ""))
        rows.append((means["raw_pitch_accuracy"], cells))
    rows.sort(key=lambda item: -item[0] if not math.isnan(item[0]) else math.inf)
    lines += ["| " + " | ".join(cells) + " |" for _, cells in rows]
    return lines


def report(runs: list[MethodRun], clips, args, elapsed: float) -> str:
    from .data import F0_RANGE
    from .methods import package_versions
    from .metrics import METRICS

    audio_seconds = sum(c.duration for c in clips)
    kinds = list(dict.fromkeys(c.kind for c in clips))
    snrs = list(dict.fromkeys(c.snr_db for c in clips))
    spectra = list(dict.fromkeys(c.spectrum for c in clips))
    out = [
        "# Pitch tracker accuracy on synthetic tones",
        "",
        f"- Clips: {len(clips)} ({audio_seconds:.0f} s of audio, "
        f"{clips[0].sample_rate} Hz){' — quick set' if args.quick else ''}; "
        f"kinds: {', '.join(kinds)}; spectra: {', '.join(spectra)}; "
        f"SNR: {', '.join(_snr_label(s) for s in snrs)}; seed {args.seed}.",
        f"- Ground truth f0 {F0_RANGE[0]:g}-{F0_RANGE[1]:g} Hz on a 10 ms grid; every method "
        f"searched {args.fmin:g}-{args.fmax:g} Hz with a {1000 * args.hop:g} ms hop.",
        f"- RTF: wall time / audio time after one warm-up call, {args.threads} threads; "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs. Total run time {elapsed:.0f} s.",
        "- Columns: "
        + "; ".join(f"{label}: {text}" for label, text in METRICS.values())
        + "; RTF: real-time factor. Mean over clips; fractions except the cent columns.",
        "",
        "## Methods",
        "",
        "| Method | Packages | Status |",
        "|---|---|---|",
    ]
    for run in runs:
        if run.unavailable:
            status = f"**unavailable**: {run.unavailable}"
        elif run.errors:
            clip_name, error = run.errors[0]
            status = f"ran; **failed on {len(run.errors)} clip(s)**, e.g. {clip_name}: {error}"
        else:
            status = "ran"
        out.append(f"| {run.name} | {package_versions(run.name)} | {status} |")
    out.append("")
    ran = [run for run in runs if not run.unavailable]
    for snr in snrs:
        out += [f"## All kinds, {_snr_label(snr)}", ""]
        out += _table(ran, lambda clip, snr=snr: clip.snr_db == snr)
        out.append("")
    for kind in kinds:
        for snr in snrs:
            out += [f"## {kind}, {_snr_label(snr)}", ""]
            group = (kind, snr)
            out += _table(ran, lambda clip, group=group: (clip.kind, clip.snr_db) == group)
            out.append("")
    return "\n".join(out)


def parse_args(argv=None) -> argparse.Namespace:
    from .data import KINDS, SNRS
    from .methods import METHODS

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--methods",
        default="all",
        help=f"comma-separated, or 'all' (default). Known: {', '.join(METHODS)}",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny clip set (smoke run)")
    parser.add_argument("--out", help="also write the Markdown report to this file")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated clip kinds (full set only)"
    )
    parser.add_argument(
        "--snrs",
        default=",".join(_snr_label(s).replace(" dB", "") for s in SNRS),
        help="comma-separated SNRs in dB, 'clean' for none (full set only)",
    )
    parser.add_argument("--n-f0", type=int, default=4, help="nominal f0s per kind (full set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmin", type=float, default=50.0, help="f0 search floor, Hz")
    parser.add_argument("--fmax", type=float, default=1100.0, help="f0 search ceiling, Hz")
    parser.add_argument("--hop", type=float, default=0.01, help="hop in seconds")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    names = list(METHODS) if args.methods == "all" else args.methods.split(",")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    args.method_names = names
    return args


def main(argv=None) -> int:
    from .data import build_clips, quick_clips
    from .methods import METHODS

    args = parse_args(argv)
    _limit_threads(args.threads)
    started = time.perf_counter()
    if args.quick:
        clips = quick_clips(seed=args.seed)
    else:
        clips = build_clips(
            kinds=args.kinds.split(","),
            snrs=_parse_snrs(args.snrs),
            n_f0=args.n_f0,
            seed=args.seed,
        )
    print(
        f"{len(clips)} clips, {sum(c.duration for c in clips):.0f} s of audio, "
        f"built in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    runs = []
    for name in args.method_names:
        t0 = time.perf_counter()
        try:
            run = run_method(name, METHODS[name], clips, args.fmin, args.fmax, args.hop, args.seed)
        except Exception:  # noqa: BLE001 - e.g. a metric crash: report and go on
            run = MethodRun(name, unavailable="harness error: " + traceback.format_exc(limit=3))
        status = run.unavailable or f"{len(run.errors)} failed clip(s)"
        print(f"{name}: {time.perf_counter() - t0:.1f} s, {status}", file=sys.stderr)
        runs.append(run)
    text = report(runs, clips, args, time.perf_counter() - started)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
