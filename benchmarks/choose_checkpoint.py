"""Choose a checkpoint and its voicing threshold on the dev sets, never on the test sets.

    python benchmarks/choose_checkpoint.py RUN_DIR/checkpoints/step=*.ckpt --out dev.md

Every checkpoint runs once through :func:`foldpitch.predict.predict` (Viterbi decoder,
silence gate) on the dev clips of ``benchmarks/accuracy``: ``speech-dev`` (espeak-ng
voices and languages kept out of training), ``festival-dev`` and ``instruments-dev``
(the dev voices and instrument families of :data:`foldpitch.data.splits.SPLITS`), the
latter two also in rooms, each clean and at 10 dB, and ``tones-dev`` (the tone kinds of
the benchmark, drawn with another seed than the test tones). The periodicity is kept, so
every voicing threshold of ``--thresholds`` is scored from the same run.

The rule, fixed before looking at any run: a checkpoint's score is the mean of

- its RPA* (the pitch guess on every labelled-voiced frame, whatever the voicing
  decision; it does not depend on the threshold), averaged over every dev set and
  condition, and
- its OA (overall accuracy, voicing included) at its best threshold, averaged the same
  way.

The table lists every checkpoint at its best threshold, best first, then the chosen
one's figures per set and condition, with its voicing false alarms (VFA).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import the benchmarks package
    sys.path.insert(0, str(ROOT))

DEV_SETS = (
    "tones-dev",
    "speech-dev",
    "festival-dev",
    "festival-dev-rooms",
    "instruments-dev",
    "instruments-dev-rooms",
)
TONES_DEV_SEED = 1  # the benchmark's tones use seed 0
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def dev_clips(sets=DEV_SETS, cache: Path | None = None) -> list:
    """The dev clips (``benchmarks.accuracy`` ``Clip`` objects), read from ``cache``
    (a pickle) when it exists, else built and written there."""
    if cache is not None and cache.exists():
        with cache.open("rb") as file:
            clips = pickle.load(file)
        _check_cached_tones(clips, cache)
        return clips
    from benchmarks.accuracy import realistic, speech
    from benchmarks.accuracy.data import build_clips

    clips = []
    if "tones-dev" in sets:
        tones = build_clips(snrs=[None, 10.0], n_f0=2, seed=TONES_DEV_SEED)
        clips += [dataclasses.replace(clip, set="tones-dev") for clip in tones]
    if "speech-dev" in sets:
        clips += speech.build_speech_clips(
            [None, 10.0],
            parts=("espeak",),
            voices=speech.DEV_VOICES,
            seed=speech.DEV_SEED,
            require=True,
            set_name="speech-dev",
        )
    for name in sets:
        if name in realistic.REALISTIC_SETS:
            clips += realistic.build_set(name, [None, 10.0], seed=0)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as file:
            pickle.dump(clips, file)
    return clips


def _check_cached_tones(clips: list, cache: Path) -> None:
    """A cache written before the benchmark's tones changed (another set of spectra)
    would score the checkpoints on other tones than today's: refuse it."""
    from benchmarks.accuracy.data import SPECTRA

    cached = {clip.spectrum for clip in clips if clip.set == "tones-dev"}
    if cached and cached != set(SPECTRA):
        raise ValueError(
            f"cache {cache} holds tones-dev clips with spectra {sorted(cached)}, but the "
            f"benchmark's tones now have {sorted(SPECTRA)}: delete it to rebuild"
        )


def score_checkpoint(path, clips, thresholds=THRESHOLDS, fmin=50.0, fmax=1100.0) -> dict:
    """``{(set, snr): {"rpa_all": x, "oa": {t: x}, "vfa": {t: x}}}`` for one checkpoint
    (means over the clips of each set and condition)."""
    from benchmarks.accuracy.metrics import evaluate
    from foldpitch.model import load_pitchnet
    from foldpitch.predict import predict

    net = load_pitchnet(path)[0]
    rows: dict[tuple, list] = {}
    for clip in clips:
        result = predict(
            clip.audio, clip.sample_rate, net, fmin=fmin, fmax=fmax, voicing_threshold=1e-6
        )
        times, f0 = result.times.numpy(), result.f0.numpy().astype(np.float64)
        gate, periodicity = result.voiced.numpy(), result.periodicity.numpy()
        row = {"rpa_all": evaluate(clip.times, clip.f0_hz, times, f0)["raw_pitch_accuracy"]}
        for t in thresholds:
            voiced_f0 = np.where(gate & (periodicity > t), f0, 0)
            scores = evaluate(clip.times, clip.f0_hz, times, voiced_f0)
            row[("oa", t)] = scores["overall_accuracy"]
            row[("vfa", t)] = scores["voicing_false_alarm"]
        rows.setdefault((clip.set, clip.snr_db), []).append(row)
    summary = {}
    for key, items in rows.items():
        mean = {name: float(np.nanmean([r[name] for r in items])) for name in items[0]}
        summary[key] = {
            "rpa_all": mean["rpa_all"],
            "oa": {t: mean[("oa", t)] for t in thresholds},
            "vfa": {t: mean[("vfa", t)] for t in thresholds},
        }
    return summary


def choose(summary: dict, thresholds=THRESHOLDS) -> tuple[float, float, float, float]:
    """``(score, threshold, mean RPA*, mean OA)`` by the module's rule."""
    rpa = float(np.mean([s["rpa_all"] for s in summary.values()]))
    oa = {t: float(np.mean([s["oa"][t] for s in summary.values()])) for t in thresholds}
    best = max(thresholds, key=lambda t: oa[t])
    return (rpa + oa[best]) / 2, best, rpa, oa[best]


def condition_label(key) -> str:
    set_name, snr = key
    return f"{set_name}, {'clean' if snr is None else f'{snr:g} dB'}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoint files (.ckpt)")
    parser.add_argument("--sets", default=",".join(DEV_SETS))
    parser.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)))
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the dev clips")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    thresholds = tuple(float(t) for t in args.thresholds.split(","))
    unknown = set(args.sets.split(",")) - set(DEV_SETS)
    if unknown:
        parser.error(f"--sets must be among {', '.join(DEV_SETS)}, got {sorted(unknown)}")
    started = time.perf_counter()
    clips = dev_clips(tuple(args.sets.split(",")), args.cache)
    results = []
    for path in args.checkpoints:
        summary = score_checkpoint(path, clips, thresholds)
        results.append((choose(summary, thresholds), path, summary))
        score, threshold, rpa, oa = results[-1][0]
        print(f"{path}: score {score:.4f} (RPA* {rpa:.4f}, OA {oa:.4f} at {threshold})", flush=True)
    results.sort(key=lambda r: -r[0][0])
    command = " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# Dev-set choice of checkpoint and voicing threshold",
        "",
        f"`python benchmarks/choose_checkpoint.py {command}`"
        f" ({len(clips)} dev clips, {time.perf_counter() - started:.0f} s).",
        "",
        "| checkpoint | score | threshold | mean RPA* | mean OA |",
        "|---|---:|---:|---:|---:|",
    ]
    for (score, threshold, rpa, oa), path, _ in results:
        lines.append(f"| `{path}` | {score:.4f} | {threshold} | {rpa:.4f} | {oa:.4f} |")
    keys = sorted(results[0][2], key=lambda k: (k[0], -math.inf if k[1] is None else k[1]))
    lines += [
        "",
        "RPA\\* / OA (at each checkpoint's best threshold) per dev set and condition:",
        "",
        "| checkpoint | " + " | ".join(condition_label(key) for key in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for (_, threshold, _, _), path, summary in results:
        cells = [f"{summary[k]['rpa_all']:.3f} / {summary[k]['oa'][threshold]:.3f}" for k in keys]
        lines.append(f"| `{Path(path).name}` | " + " | ".join(cells) + " |")
    (score, threshold, _, _), path, summary = results[0]
    lines += [
        "",
        f"Chosen: `{path}` at threshold {threshold}.",
        "",
        "| dev set, condition | RPA* | OA | VFA |",
        "|---|---:|---:|---:|",
    ]
    for key in sorted(summary, key=lambda k: (k[0], -math.inf if k[1] is None else k[1])):
        s = summary[key]
        lines.append(
            f"| {condition_label(key)} | {s['rpa_all']:.3f} | {s['oa'][threshold]:.3f} | "
            f"{s['vfa'][threshold]:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
