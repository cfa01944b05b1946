"""Run every pitch tracker on the benchmark clips and tabulate the accuracy.

Usage (from the repository root)::

    PYTHONPATH=src python -m benchmarks.accuracy.run --full   # the committed results
    PYTHONPATH=src python -m benchmarks.accuracy.run --quick
    PYTHONPATH=src python -m benchmarks.accuracy.run --methods pyin,praat --out results.md

``--full`` regenerates ``benchmarks/accuracy/results.md`` and ``results.png``: every
method on every set of :data:`FULL_SETS`,

- **tones** (:mod:`benchmarks.accuracy.data`): 4 kinds x 3 nominal f0s x 5 spectra x 4
  SNRs (clean, 20, 10, 0 dB) = 240 clips of 1.5 s, 360 s of audio;
- **speech** (:mod:`benchmarks.accuracy.speech`): WORLD resynthesis of the CMU ARCTIC
  utterance at 5 pitches and of 10 espeak-ng voices, clean and 10 dB: 30 clips, about
  100 s of audio (the espeak part is skipped, and the results say so, where espeak-ng
  is not installed).

The full run takes about 35-40 minutes on 2 CPU cores: the methods' real-time factors
add up to about 5.5 (torchcrepe-full 3.2, foldpitch-fit about 1, foldpitch-refined
0.5, the rest below 0.3 each) over about 390 s of audio. 3 rather than the default 4
nominal f0s per tone kind keep it under 45 minutes (4 would add 96 s of audio, about 9
minutes).

- **festival-test**, **festival-test-rooms**, **instruments-test**,
  **instruments-test-rooms** (:mod:`benchmarks.accuracy.realistic`): WORLD resynthesis
  of Festival voices built from real speakers, and melodies of real instrument samples
  from the allowed soundfonts, one note at a time; clean and 10 dB, dry and in simulated
  rooms (RT60 0.3-0.9 s, label the dry f0). Their dev splits (other voices and
  instrument families), ``festival-dev``, ``festival-dev-rooms``, ``instruments-dev``
  and ``instruments-dev-rooms``, are for choosing settings and are not part of
  ``--full``.

(The timing below predates the realistic sets, which add about 600 s of audio.)

``--sets speech-dev`` is a held-out speech set built the same way from other espeak-ng
voices and sentences (:data:`benchmarks.accuracy.speech.DEV_VOICES`, about 66 s clean
and at 10 dB): settings of foldpitch (the decoder, the periodicity threshold) were
chosen on it, not on the benchmark's speech. ``--sets speech-dev-lively`` is the same
set with each f0 contour's excursions doubled (faster glides, as in recorded speech),
on which the Viterbi decoder's octave cost was chosen too.

Without ``--full`` the run is on the tones only (``--sets tones,speech`` adds the
speech) with 4 nominal f0s, and the report is printed (``--out`` also writes it, and
the figure beside it). ``--quick`` is a small subset for smoke runs (16 tone clips; with
``--sets tones,speech`` also a few seconds of speech).

Every method of :data:`benchmarks.accuracy.methods.METHODS` (or those named in
``--methods``) runs on every clip with the same f0 search range (``--fmin``/``--fmax``,
default 50-1100 Hz around the 60-1000 Hz of the data) and a 10 ms hop. Each method first
runs once on the first clip, untimed (warm-up: imports, model loading, JIT), then every
call is timed with ``time.perf_counter``; the real-time factor is the summed wall time
over the summed audio duration, with torch (and BLAS/OpenMP) limited to ``--threads``
threads (default 2). A progress bar over methods x clips goes to stderr.

The report has a header (data, machine, versions, run time, the status of every
method), a headline table (tones and speech, clean and 10 dB, main metrics), then one
table per set x condition over all its clips and one per set x condition x clip type,
rows sorted by raw pitch accuracy; each cell is the mean over the clips of that group
(metrics that are undefined on a clip, see :mod:`benchmarks.accuracy.metrics`, are left
out of its mean). Methods that could not be imported are listed with the reason, and so
are methods that raised on some clip (those clips count as all unvoiced).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import platform
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["main", "report", "run_method", "write_figure"]

RESULTS = Path(__file__).resolve().parent / "results.md"
FULL_N_F0 = 3
SETS = (
    "tones",
    "speech",
    "speech-dev",
    "speech-dev-lively",
    "festival-dev",
    "festival-dev-rooms",
    "festival-test",
    "festival-test-rooms",
    "instruments-dev",
    "instruments-dev-rooms",
    "instruments-test",
    "instruments-test-rooms",
)
FULL_SETS = (
    "tones",
    "speech",
    "festival-test",
    "festival-test-rooms",
    "instruments-test",
    "instruments-test-rooms",
)
HEADLINE_SNRS = (None, 10.0)
HEADLINE_METRICS = (
    "raw_pitch_accuracy",
    "raw_chroma_accuracy",
    "overall_accuracy",
    "voicing_recall",
    "voicing_false_alarm",
    "gross_pitch_error",
    "fine_pitch_error_cents",
)


GATED_METRICS = ("raw_pitch_accuracy", "overall_accuracy", "voicing_false_alarm")


@dataclass
class MethodRun:
    name: str
    unavailable: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (clip name, error)
    rows: list[tuple[object, dict[str, float], float]] = field(default_factory=list)


@dataclass
class DataSet:
    """The clips of a run and what could not be built (part -> reason)."""

    clips: list
    skipped: dict[str, str] = field(default_factory=dict)
    build_seconds: float = 0.0


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


def run_method(name, method, clips, fmin, fmax, hop_seconds, seed=0, progress=None) -> MethodRun:
    """Warm up once, then run and evaluate ``method`` on every clip.

    The global numpy and torch generators are seeded first, so that methods that draw
    random numbers (torchcrepe dithers its output) give the same result on every run.
    ``progress`` (optional) is called with the number of clips done after each clip
    (``len(clips)`` at once when the method is unavailable).
    """
    import torch

    from .methods import MethodUnavailable
    from .metrics import evaluate

    step = progress or (lambda n: None)
    np.random.seed(seed)
    torch.manual_seed(seed)
    run = MethodRun(name)
    first = clips[0]
    try:
        method(first.audio, first.sample_rate, fmin, fmax, hop_seconds)
    except MethodUnavailable as error:
        run.unavailable = error.reason
        step(len(clips))
        return run
    except Exception as error:  # noqa: BLE001 - reported, not hidden
        run.unavailable = f"warm-up failed: {type(error).__name__}: {error}"
        step(len(clips))
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
        gated = evaluate(clip.times, clip.f0_hz, estimate[0], silence_gated(clip, *estimate))
        scores.update({f"{key}_gated": gated[key] for key in GATED_METRICS})
        guess = None if track is None else track.guess_hz
        scores["pitch_accuracy_all"] = (
            evaluate(clip.times, clip.f0_hz, track.times, guess)["raw_pitch_accuracy"]
            if guess is not None
            else math.nan
        )
        run.rows.append((clip, scores, seconds))
        step(1)
    return run


def silence_gated(clip, times, f0_hz, top_db: float | None = None) -> np.ndarray:
    """``f0_hz`` with the frames more than ``top_db`` (default: foldpitch's
    :data:`~foldpitch.predict.SILENCE_TOP_DB`) below the clip's loudest frame set to 0
    (unvoiced): the silence gate of :func:`foldpitch.predict.predict`, on the clip's
    audio (64 ms Hann windows every 10 ms), read at the method's ``times``."""
    import torch

    from foldpitch.frontend import frame_power_db
    from foldpitch.predict import SILENCE_TOP_DB

    top_db = SILENCE_TOP_DB if top_db is None else top_db

    rate = clip.sample_rate
    hop = round(0.01 * rate)
    power = frame_power_db(
        torch.as_tensor(clip.audio, dtype=torch.float64), round(0.064 * rate), hop
    )
    power = power.numpy() - float(power.max())
    level = np.interp(times, np.arange(len(power)) * hop / rate, power)
    return np.where(level > -top_db, f0_hz, 0.0)


# ------------------------------------------------------------------------------ tables


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


def _unique(values) -> list:
    return list(dict.fromkeys(values))


def _summaries(runs: list[MethodRun], keep, keys) -> list[tuple[float, list[str]]]:
    """Per method over the clips where ``keep(clip)``: ``(RPA, cells)``, cells being the
    means of ``keys``, the RTF and the clip count; sorted by RPA, best first."""
    rows = []
    for run in runs:
        selected = [(scores, seconds, clip) for clip, scores, seconds in run.rows if keep(clip)]
        if not selected:
            continue
        means = {key: _mean(scores[key] for scores, _, _ in selected) for key in keys}
        rtf = sum(s for _, s, _ in selected) / sum(c.duration for _, _, c in selected)
        names = {clip.name for *_, clip in selected}
        failed = sum(1 for clip_name, _ in run.errors if clip_name in names)
        cells = [*(_format(k, v) for k, v in means.items()), f"{rtf:.3f}"]
        cells.append(f"{len(selected)}" + (f" ({failed} failed)" if failed else ""))
        rpa = _mean(scores["raw_pitch_accuracy"] for scores, _, _ in selected)
        rows.append((rpa, [run.name, *cells]))
    rows.sort(key=lambda item: -item[0] if not math.isnan(item[0]) else math.inf)
    return rows


def gate_table(runs: list[MethodRun], clips) -> list[str]:
    """For each speech condition of the headline, every method as it ran and with the
    silence gate on its voicing; rows by gated overall accuracy."""
    from .metrics import METRICS

    labels = [METRICS[key][0] for key in GATED_METRICS]
    header = ["Set", "Condition", "Method", *labels, *(f"{label} gated" for label in labels)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keys = [*GATED_METRICS, *(f"{key}_gated" for key in GATED_METRICS)]
    for set_name, snr in _headline_conditions(clips):
        if not set_name.startswith(("speech", "festival")):
            continue
        rows = []
        for run in runs:
            chosen = [
                scores for clip, scores, _ in run.rows if (clip.set, clip.snr_db) == (set_name, snr)
            ]
            if not chosen:
                continue
            means = [_mean(scores[key] for scores in chosen) for key in keys]
            cells = [
                set_name,
                _snr_label(snr),
                run.name,
                *(_format(k, v) for k, v in zip(keys, means, strict=True)),
            ]
            rows.append((means[len(GATED_METRICS) + 1], cells))
        rows.sort(key=lambda item: -item[0] if not math.isnan(item[0]) else math.inf)
        lines += ["| " + " | ".join(cells) + " |" for _, cells in rows]
    return lines


def _header(first: list[str], keys) -> list[str]:
    from .metrics import METRICS

    header = [*first, *(METRICS[key][0] for key in keys), "RTF", "clips"]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]


def _table(runs: list[MethodRun], keep) -> list[str]:
    """Markdown table, every metric, over the clips for which ``keep(clip)`` is true."""
    from .metrics import METRICS

    lines = _header(["Method"], METRICS)
    lines += ["| " + " | ".join(cells) + " |" for _, cells in _summaries(runs, keep, METRICS)]
    return lines


def _conditions(clips) -> list[tuple[str, float | None]]:
    """``(set, snr)`` pairs in the order the clips have them, sets in :data:`SETS` order."""
    pairs = _unique((clip.set, clip.snr_db) for clip in clips)
    return sorted(pairs, key=lambda pair: SETS.index(pair[0]) if pair[0] in SETS else len(SETS))


def _headline_conditions(clips) -> list[tuple[str, float | None]]:
    pairs = _conditions(clips)
    chosen = []
    for name in _unique(set_name for set_name, _ in pairs):
        of_set = [pair for pair in pairs if pair[0] == name]
        chosen += [pair for pair in of_set if pair[1] in HEADLINE_SNRS] or of_set
    return chosen


def headline_table(runs: list[MethodRun], clips) -> list[str]:
    """One table: for each headline set x condition, one row per method (by RPA)."""
    lines = _header(["Set", "Condition", "Method"], HEADLINE_METRICS)
    for set_name, snr in _headline_conditions(clips):
        pair = (set_name, snr)
        rows = _summaries(runs, lambda c, pair=pair: (c.set, c.snr_db) == pair, HEADLINE_METRICS)
        lines += [f"| {set_name} | {_snr_label(snr)} | " + " | ".join(c) + " |" for _, c in rows]
    return lines


# ------------------------------------------------------------------------------ report


def _versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    for dist in ("torch", "numpy", "mir_eval"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(parts)


def _describe_data(data: DataSet, args) -> list[str]:
    from .data import F0_RANGE

    out = []
    tones = [c for c in data.clips if c.set == "tones"]
    if tones:
        out.append(
            f"- **Tones** (`benchmarks/accuracy/data.py`): {len(tones)} clips, "
            f"{sum(c.duration for c in tones):.0f} s of audio"
            f"{' (quick subset)' if args.quick else f', {args.n_f0} nominal f0s per kind'}"
            f"; kinds: {', '.join(_unique(c.kind for c in tones))}; spectra: "
            f"{', '.join(_unique(c.spectrum for c in tones))}; SNR: "
            f"{', '.join(_snr_label(s) for s in _unique(c.snr_db for c in tones))}; "
            f"f0 {F0_RANGE[0]:g}-{F0_RANGE[1]:g} Hz, exact by construction."
        )
    titles = {
        "speech": "Speech",
        "speech-dev": "Held-out speech",
        "speech-dev-lively": "Held-out speech, f0 excursions doubled",
    }
    for set_name, title in titles.items():
        speech = [c for c in data.clips if c.set == set_name]
        if speech:
            out.append(f"- **{title}** {_describe_speech(speech)}")
    for set_name in _unique(c.set for c in data.clips):
        if set_name.startswith(("festival", "instruments")):
            members = [c for c in data.clips if c.set == set_name]
            out.append(
                f"- **{set_name}** (`benchmarks/accuracy/realistic.py`): {len(members)} clips, "
                f"{sum(c.duration for c in members):.0f} s of audio; "
                f"{', '.join(_unique(c.spectrum for c in members))}; SNR: "
                f"{', '.join(_snr_label(s) for s in _unique(c.snr_db for c in members))}"
                + (
                    "; in simulated rooms (RT60 0.3-0.9 s), label the dry f0."
                    if "rooms" in set_name
                    else "."
                )
            )
    for part, reason in data.skipped.items():
        out.append(f"- **Skipped: {part}** ({reason}); its clips are not in these results.")
    out.append(f"- Data built in {data.build_seconds:.0f} s; seed {args.seed}.")
    return out


def _describe_speech(clips) -> str:
    from .speech import data_versions

    variants = {
        kind: ", ".join(_unique(c.spectrum for c in clips if c.kind == kind))
        for kind in _unique(c.kind for c in clips)
    }
    sources = "; ".join(f"{kind}: {names}" for kind, names in variants.items())
    return (
        f"(`benchmarks/accuracy/speech.py`): {len(clips)} clips, "
        f"{sum(c.duration for c in clips):.0f} s of audio: WORLD analysis and "
        "resynthesis (the MDB-stem-synth method; the f0 given to the synthesiser is "
        "the ground truth) of the CMU ARCTIC utterance that pysptk ships (at its own "
        "pitch and shifted by whole semitones) and of espeak-ng sentences, as present "
        f"here: {sources}; SNR: "
        f"{', '.join(_snr_label(s) for s in _unique(c.snr_db for c in clips))}; "
        f"built with {data_versions()}."
    )


def report(runs: list[MethodRun], data, args, elapsed: float, figure: str | None = None) -> str:
    """The Markdown report (see the module doc).

    ``data``: a :class:`DataSet` (or a plain list of clips); ``figure``: a path, relative
    to the report, of the figure to link, if one was written.
    """
    from .methods import package_versions
    from .metrics import METRICS

    if not isinstance(data, DataSet):
        data = DataSet(list(data))
    clips = data.clips
    sets = _unique(c.set for c in clips)
    command = "python -m benchmarks.accuracy.run " + " ".join(
        shlex.quote(a) for a in (getattr(args, "argv", None) or [])
    )
    out = [
        f"# Pitch tracker accuracy: {' and '.join(sets)}",
        "",
        f"Generated by `{command.strip()}`.",
        "",
        *_describe_data(data, args),
        f"- Ground truth on a 10 ms grid; every method searched {args.fmin:g}-"
        f"{args.fmax:g} Hz with a {1000 * args.hop:g} ms hop.",
        f"- Machine: {platform.machine()} ({platform.processor() or 'processor unknown'}), "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}; {_versions()}.",
        f"- RTF: wall time / audio time after one warm-up call, {args.threads} threads. "
        f"Total run time {elapsed:.0f} s ({elapsed / 60:.1f} min).",
        "- Columns: "
        + "; ".join(f"{label}: {text}" for label, text in METRICS.values())
        + "; RTF: real-time factor. Mean over clips; fractions except the cent columns.",
        "",
    ]
    if figure:
        out += [f"![RPA per set and condition, and real-time factor]({figure})", ""]
    out += ["## Methods", "", "| Method | Packages | Status |", "|---|---|---|"]
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
    out += ["## Headline", "", *headline_table(ran, clips), ""]
    if any(clip.set.startswith(("speech", "festival")) for clip in clips):
        from foldpitch.predict import SILENCE_TOP_DB

        out += [
            "## The same silence gate on every method",
            "",
            f"foldpitch's `predict` unvoices frames more than {SILENCE_TOP_DB:g} dB below the "
            "loudest frame of the signal. Here that gate is applied to every method's "
            "voicing as well (foldpitch's rows are gated already), so that what the gate "
            "buys can be told apart from what the network does.",
            "",
            *gate_table(ran, clips),
            "",
        ]
    for set_name, snr in _conditions(clips):
        pair = (set_name, snr)
        members = [c for c in clips if (c.set, c.snr_db) == pair]
        all_label = "all kinds" if set_name == "tones" else "all types"
        out += [f"## {set_name}, {_snr_label(snr)}", "", f"### {all_label}", ""]
        out += _table(ran, lambda c, pair=pair: (c.set, c.snr_db) == pair)
        out.append("")
        for kind in _unique(c.kind for c in members):
            group = (set_name, snr, kind)
            out += [f"### {kind}", ""]
            out += _table(ran, lambda c, group=group: (c.set, c.snr_db, c.kind) == group)
            out.append("")
        if set_name == "tones":  # spectra differ in difficulty, the pure tone most of all
            for spectrum in _unique(c.spectrum for c in members):
                group = (set_name, snr, spectrum)
                out += [f"### spectrum {spectrum}", ""]
                out += _table(ran, lambda c, group=group: (c.set, c.snr_db, c.spectrum) == group)
                out.append("")
    return "\n".join(out)


def write_figure(runs: list[MethodRun], clips, path) -> None:
    """Grouped bars of RPA per set x condition (one bar per method), and each method's
    real-time factor over all clips on a log axis. PNG (matplotlib, no GUI backend)."""
    import matplotlib
    import matplotlib.ticker
    from matplotlib.figure import Figure

    ran = [run for run in runs if not run.unavailable and run.rows]
    conditions = _conditions(clips)
    labels = [f"{set_name}\n{_snr_label(snr)}" for set_name, snr in conditions]
    rpa = np.array(
        [
            [
                _mean(s["raw_pitch_accuracy"] for c, s, _ in run.rows if (c.set, c.snr_db) == p)
                for p in conditions
            ]
            for run in ran
        ]
    ).reshape(len(ran), len(conditions))
    order = np.argsort([-np.nanmean(row) if np.isfinite(row).any() else 0 for row in rpa])
    ran, rpa = [ran[i] for i in order], rpa[order]
    rtf = [sum(s for *_, s in run.rows) / sum(c.duration for c, *_ in run.rows) for run in ran]

    figure = Figure(figsize=(13, 5.5), layout="constrained")
    bars, speed = figure.subplots(1, 2, width_ratios=(3, 1))
    palette = matplotlib.colormaps["tab20"]
    colours = [palette((2 * i) % 20 + (2 * i) // 20) for i in range(len(ran))]
    width = 0.8 / max(len(ran), 1)
    x = np.arange(len(conditions))
    for i, run in enumerate(ran):
        offset = (i - (len(ran) - 1) / 2) * width
        bars.bar(x + offset, rpa[i], width, label=run.name, color=colours[i])
    bars.set_xticks(x, labels)
    bars.set_ylim(0, 1)
    bars.set_ylabel("raw pitch accuracy (50 cents, voicing counted)")
    bars.set_title("Accuracy per set and condition (mean over clips)")
    bars.grid(axis="y", alpha=0.3)
    bars.legend(
        fontsize="small", ncols=min(len(ran), 6), loc="upper center", bbox_to_anchor=(0.5, -0.1)
    )
    y = np.arange(len(ran))
    low = 10 ** math.floor(math.log10(max(min(rtf, default=1.0), 1e-6)))
    speed.barh(y, np.asarray(rtf) - low, left=low, color=colours)  # from the left edge
    for row, value in zip(y, rtf, strict=True):
        speed.text(value, row, f" {value:.3g}", va="center", fontsize="small")
    speed.set_yticks(y, [run.name for run in ran])
    speed.invert_yaxis()
    speed.set_xscale("log")
    speed.set_xlim(low, 10 ** math.ceil(math.log10(max(max(rtf, default=1.0), low) * 3)))
    speed.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    speed.set_xlabel("real-time factor (log; lower is faster)")
    speed.set_title("Speed, all clips")
    speed.grid(axis="x", alpha=0.3)
    figure.savefig(path, dpi=110)


# --------------------------------------------------------------------------------- CLI


def parse_args(argv=None) -> argparse.Namespace:
    from .data import KINDS, SNRS
    from .methods import METHODS

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the committed results: tones (all SNRs, 3 f0s per kind) and speech, every "
        f"method, written to {RESULTS.relative_to(RESULTS.parents[2])} and results.png",
    )
    parser.add_argument(
        "--methods",
        default="all",
        help=f"comma-separated, or 'all' (default). Known: {', '.join(METHODS)}",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny clip set (smoke run)")
    parser.add_argument(
        "--sets",
        help=f"comma-separated among {', '.join(SETS)} (default: tones; with --full: "
        f"{', '.join(FULL_SETS)})",
    )
    parser.add_argument("--out", help="also write the Markdown report (and the figure, .png)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated tone kinds (not --quick)"
    )
    parser.add_argument(
        "--snrs",
        default=",".join(_snr_label(s).replace(" dB", "") for s in SNRS),
        help="comma-separated tone SNRs in dB, 'clean' for none (not --quick)",
    )
    parser.add_argument(
        "--speech-snrs", default="clean,10", help="comma-separated speech SNRs (not --quick)"
    )
    parser.add_argument(
        "--n-f0", type=int, help=f"nominal f0s per tone kind (default 4; {FULL_N_F0} with --full)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmin", type=float, default=50.0, help="f0 search floor, Hz")
    parser.add_argument("--fmax", type=float, default=1100.0, help="f0 search ceiling, Hz")
    parser.add_argument("--hop", type=float, default=0.01, help="hop in seconds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clips-cache",
        help="a pickle of the built clips: read when it holds the clips of these data "
        "arguments, else built and written (building the speech and realistic sets "
        "takes minutes; the clips are deterministic)",
    )
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.full and args.quick:
        parser.error("--full and --quick exclude each other")
    names = list(METHODS) if args.methods == "all" else args.methods.split(",")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    args.method_names = names
    sets = args.sets or (",".join(FULL_SETS) if args.full else "tones")
    args.set_names = [s.strip() for s in sets.split(",") if s.strip()]
    if not args.set_names or any(s not in SETS for s in args.set_names):
        parser.error(f"--sets must be a comma-separated subset of {', '.join(SETS)}")
    if args.n_f0 is None:
        args.n_f0 = FULL_N_F0 if args.full else 4
    if args.full and not args.out:
        args.out = str(RESULTS)
    return args


def build_data(args) -> DataSet:
    """The clips of the run (see the module doc), and the parts that were skipped."""
    from . import realistic, speech
    from .data import build_clips, quick_clips

    started = time.perf_counter()
    data = DataSet([])
    if "tones" in args.set_names:
        if args.quick:
            data.clips += quick_clips(seed=args.seed)
        else:
            data.clips += build_clips(
                kinds=args.kinds.split(","),
                snrs=_parse_snrs(args.snrs),
                n_f0=args.n_f0,
                seed=args.seed,
            )
    if "speech" in args.set_names:
        data.skipped.update(
            {f"speech set, {part} part": why for part, why in speech.missing_parts().items()}
        )
        try:
            if args.quick:
                data.clips += speech.quick_speech_clips(seed=args.seed)
            else:
                data.clips += speech.build_speech_clips(
                    _parse_snrs(args.speech_snrs), seed=args.seed
                )
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            data.skipped["speech set"] = f"failed: {type(error).__name__}: {error}"
    for set_name, scale in (
        ("speech-dev", 1.0),
        ("speech-dev-lively", speech.LIVELY_CONTOUR_SCALE),
    ):
        if set_name not in args.set_names:
            continue
        try:
            data.clips += speech.build_speech_clips(
                _parse_snrs(args.speech_snrs),
                parts=("espeak",),
                voices=speech.DEV_VOICES,
                seed=speech.DEV_SEED,
                require=True,
                set_name=set_name,
                contour_scale=scale,
            )
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            data.skipped[f"{set_name} set"] = f"failed: {type(error).__name__}: {error}"
    wanted = [name for name in args.set_names if name in realistic.REALISTIC_SETS]
    missing = realistic.missing_parts() if wanted else {}
    for set_name in wanted:
        source = set_name.split("-")[0]
        if source in missing:
            data.skipped[f"{set_name} set"] = missing[source]
            continue
        try:
            data.clips += realistic.build_set(
                set_name, _parse_snrs(args.speech_snrs), seed=args.seed, quick=args.quick
            )
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            data.skipped[f"{set_name} set"] = f"failed: {type(error).__name__}: {error}"
    data.build_seconds = time.perf_counter() - started
    return data


def cached_data(args) -> DataSet:
    """:func:`build_data`, through ``args.clips_cache`` when given: the pickle is used
    only if it was built from the same data arguments (sets, kinds, SNRs, f0s, seed) and
    the same tone spectra."""
    if not getattr(args, "clips_cache", None):
        return build_data(args)
    import pickle

    from .data import SPECTRA

    key = repr(
        (args.set_names, args.quick, args.kinds, args.snrs, args.speech_snrs, args.n_f0, args.seed)
        + (SPECTRA,)
    )
    path = Path(args.clips_cache)
    if path.exists():
        with path.open("rb") as file:
            stored_key, data = pickle.load(file)
        if stored_key == key:
            print(f"clips read from {path}", file=sys.stderr)
            return data
    data = build_data(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        pickle.dump((key, data), file)
    return data


def _progress_bar(total: int, disable: bool):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="clip", file=sys.stderr, disable=disable, dynamic_ncols=True)


def main(argv=None) -> int:
    from .methods import METHODS

    args = parse_args(argv)
    _limit_threads(args.threads)
    started = time.perf_counter()
    data = cached_data(args)
    clips = data.clips
    print(
        f"{len(clips)} clips, {sum(c.duration for c in clips):.0f} s of audio, "
        f"built in {data.build_seconds:.1f} s",
        file=sys.stderr,
    )
    for part, reason in data.skipped.items():
        print(f"skipped: {part}: {reason}", file=sys.stderr)
    if not clips:
        print("no clips to run on", file=sys.stderr)
        return 1
    bar = _progress_bar(len(args.method_names) * len(clips), args.no_progress)
    runs = []
    for name in args.method_names:
        t0 = time.perf_counter()
        if bar is not None:
            bar.set_description(name)
        try:
            run = run_method(
                name,
                METHODS[name],
                clips,
                args.fmin,
                args.fmax,
                args.hop,
                args.seed,
                progress=None if bar is None else bar.update,
            )
        except Exception:  # noqa: BLE001 - e.g. a metric crash: report and go on
            run = MethodRun(name, unavailable="harness error: " + traceback.format_exc(limit=3))
        status = run.unavailable or f"{len(run.errors)} failed clip(s)"
        message = f"{name}: {time.perf_counter() - t0:.1f} s, {status}"
        if bar is not None:
            bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)
        runs.append(run)
    if bar is not None:
        bar.close()
    figure = None
    if args.out:
        figure_path = Path(args.out).with_suffix(".png")
        try:
            write_figure(runs, clips, figure_path)
            figure = figure_path.name
        except Exception as error:  # noqa: BLE001 - the tables matter more
            print(f"no figure: {type(error).__name__}: {error}", file=sys.stderr)
    text = report(runs, data, args, time.perf_counter() - started, figure)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
